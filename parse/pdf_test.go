package parse

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
)

// TestPDFFormFromAnotherWriter reads a form written by pdfcpu's own form
// generator (object streams, appearance streams, field labels beside the
// fields), not by our fixture code.
func TestPDFFormFromAnotherWriter(t *testing.T) {
	js := `{"paper": "A4P", "origin": "LowerLeft", "fonts": {"input": {"name": "Helvetica", "size": 11}, "label": {"name": "Helvetica", "size": 11}},
 "pages": {"1": {"content": {
  "textfield": [
   {"id": "ClientName", "tip": "Client name", "value": "Dana Whitfield", "pos": [200, 700], "width": 200, "font": {"name": "$input"}, "label": {"value": "Client name:", "width": 120, "gap": 10, "pos": "left", "font": {"name": "$label"}}},
   {"id": "Phone", "value": "555-014-2000", "pos": [200, 670], "width": 200, "font": {"name": "$input"}, "label": {"value": "Phone:", "width": 120, "gap": 10, "pos": "left", "font": {"name": "$label"}}},
   {"id": "Reason", "value": "budget help", "pos": [200, 640], "width": 200, "font": {"name": "$input"}, "label": {"value": "Reason for referral:", "width": 120, "gap": 10, "pos": "left", "font": {"name": "$label"}}}
  ],
  "checkbox": [{"id": "consent", "value": true, "pos": [200, 610], "width": 12, "label": {"value": "Consent", "width": 120, "gap": 10, "pos": "left", "font": {"name": "$label"}}}]
 }}}}`
	var out bytes.Buffer
	if err := api.Create(nil, strings.NewReader(js), &out, nil); err != nil {
		t.Fatal(err)
	}
	w := &walker{opt: Options{MaxAttachmentBytes: 10 << 20, MaxUnzippedBytes: 50 << 20, CountryCode: "1"}, aliases: NewAliases(nil), msg: &Message{}}
	cands, problem, err := w.readPDF(bytes.NewReader(out.Bytes()))
	if err != nil || problem != "" || len(cands) != 1 {
		t.Fatalf("%+v %q %v", cands, problem, err)
	}
	want := map[string]string{"client_name": "Dana Whitfield", "client_phone": "5550142000", "needs": "budget help", "consent": "yes"}
	for k, v := range want {
		if got := cands[0].Fields[k]; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
