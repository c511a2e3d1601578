package notify_test

import (
	"strings"
	"testing"

	"refdesk/store"
)

// TestTooLargeReply: the polite reply to a message too large to take in says
// the limit and asks for the form separately, in text and HTML.
func TestTooLargeReply(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Intake.MaxMessageSize = 25 << 20
	got, err := newRenderer(t, cfg).Render(outMsg(t, "too-large", store.Reply{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{got.Text, got.HTML} {
		for _, want := range []string{"25 MB", "larger than we can", "without the large attachments", cfg.Program.Phone} {
			if !strings.Contains(part, want) {
				t.Errorf("too-large reply lacks %q:\n%s", want, part)
			}
		}
	}
	if !strings.Contains(got.Subject, "too large") {
		t.Errorf("subject %q", got.Subject)
	}
}
