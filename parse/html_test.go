package parse

import "testing"

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, html, want string }{
		{"br and divs", `<div dir="ltr">Name: Dana<br>Phone: 555-0142<div>ZIP: 60601</div></div>`,
			"Name: Dana\nPhone: 555-0142\nZIP: 60601"},
		{"whitespace collapsed", "<p>  Client\n   name:\t Dana   </p>", "Client name: Dana"},
		{"bold label", `<p><b>Name:</b> Dana</p><p><strong>Phone</strong>: 555-0142</p>`, "Name: Dana\nPhone: 555-0142"},
		{"entities", `<p>Needs: credit &amp; savings&nbsp;plan &lt;soon&gt;</p>`, "Needs: credit & savings plan <soon>"},
		{"script style head dropped", `<html><head><title>T</title><style>p{color:red}</style></head><body><script>alert(1)</script><p>Hi</p></body></html>`, "Hi"},
		{"two-cell row", `<table><tr><td><b>Client name</b></td><td>Luis Ortega</td></tr><tr><td>Phone:</td><td>555-0143</td></tr></table>`,
			"Client name: Luis Ortega\nPhone: 555-0143"},
		{"row with more cells", `<table><tr><th>Name</th><th>Phone</th><th>ZIP</th></tr><tr><td>Dana</td><td>555-0142</td><td>60601</td></tr></table>`,
			"Name | Phone | ZIP\nDana | 555-0142 | 60601"},
		{"row with one empty cell", `<table><tr><td>Notes</td><td></td></tr><tr><td>&nbsp;</td><td>Consent: yes</td></tr></table>`,
			"Notes\nConsent: yes"},
		{"multi-line cell continues indented", `<table><tr><td>Notes</td><td>line one<br>line two</td></tr></table>`,
			"Notes: line one\n  line two"},
		{"nested layout table", `<table><tr><td><table><tr><td>Name</td><td>Dana</td></tr><tr><td>Phone</td><td>555-0142</td></tr></table></td></tr></table>`,
			"Name: Dana\nPhone: 555-0142"},
		{"blockquote quoted", `<div>New text</div><blockquote>Old: text<br>more</blockquote>`, "New text\n> Old: text\n> more"},
		{"gmail quote", `<div dir="ltr">Client name: Marcus</div><div class="gmail_quote"><div class="gmail_attr">On Mon, Maria wrote:<br></div><blockquote class="gmail_quote">Client name: Dana</blockquote></div>`,
			"Client name: Marcus\n> On Mon, Maria wrote:\n> Client name: Dana"},
		{"gmail forward is not quoted", `<div>FYI</div><div class="gmail_quote"><div class="gmail_attr">---------- Forwarded message ---------<br>From: Intake</div><div>Client name: Dana</div></div>`,
			"FYI\n---------- Forwarded message ---------\nFrom: Intake\nClient name: Dana"},
		{"apple forward is not quoted", `<div>See below</div><div>Begin forwarded message:</div><blockquote type="cite"><div>Client name: Dana</div></blockquote>`,
			"See below\nBegin forwarded message:\nClient name: Dana"},
		{"outlook reply header", `<p>Client name: Marcus</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p><b>From:</b> Maria<br><b>Sent:</b> Monday</p></div><p>Client name: Dana</p>`,
			"Client name: Marcus\n\n________________________________\nFrom: Maria\nSent: Monday\nClient name: Dana"},
		{"outlook web reply header", `<div>Client name: Marcus</div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Maria<br><b>Sent:</b> Monday<br></div><div>Client name: Dana</div>`,
			"Client name: Marcus\n\n________________________________\nFrom: Maria\nSent: Monday\nClient name: Dana"},
		{"yahoo quote", `<div>New</div><div class="yahoo_quoted">Old</div>`, "New\n> Old"},
		{"list items", `<ul><li>Name: Dana</li><li>Phone: 555-0142</li></ul>`, "- Name: Dana\n- Phone: 555-0142"},
		{"outlook blank paragraphs", `<p>Needs: budgeting</p><p>&nbsp;</p><p>Thanks</p>`, "Needs: budgeting\n\nThanks"},
		{"apple blank div", `<div>a</div><div><br></div><div>b</div>`, "a\n\nb"},
		{"pre keeps lines", "<pre>Name:  Dana\nPhone: 555</pre>", "Name:  Dana\nPhone: 555"},
		{"broken html", `<p>Name: <b>Dana<p>Phone: 555-0142`, "Name: Dana\nPhone: 555-0142"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.html); got != tt.want {
				t.Errorf("HTMLToText =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
