package notify

import (
	"bytes"
	"encoding/csv"
	"strings"
)

// ReportCSVColumns are the columns of a report's CSV attachment: the same
// lines as the report's list of consenting clients.
var ReportCSVColumns = []string{"partner_case_id", "initials", "received", "decision", "status", "first_contact", "outcomes"}

// ReportCSV is the CSV attachment of a report: one row per listed client.
func ReportCSV(r *Report) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true // RFC 4180
	w.Write(ReportCSVColumns)
	for _, l := range r.Lines {
		w.Write(CSVRow(l.CaseID, l.Initials, l.Received, l.Decision, l.Status, l.FirstContact, l.Outcomes))
	}
	w.Flush()
	return b.Bytes()
}

// ReportCSVName is the attachment's file name.
func ReportCSVName(r *Report) string {
	return "referrals-" + r.Partner + "-" + r.Month + ".csv"
}

// CSVRow makes cells safe to open in a spreadsheet: a value that starts
// with =, +, -, @, a tab or a carriage return would be read as a formula
// (CSV injection), so it gets a leading apostrophe. Values come from email.
func CSVRow(cells ...string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			c = "'" + c
		}
		out[i] = c
	}
	return out
}
