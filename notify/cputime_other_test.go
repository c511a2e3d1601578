//go:build !unix

package notify_test

import "time"

func cpuTime() time.Duration { return 0 }
