package configs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
)

// TLSConfig is the client TLS configuration for the server: certificates
// are always verified against the system's CAs plus those in ca_file (a
// private CA), the name checked is the host of address, and TLS 1.2 is the
// minimum. There is no switch to skip verification.
func (s Server) TLSConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", s.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}
