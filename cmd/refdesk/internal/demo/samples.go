package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Sample is one message the demo sends, with what a newcomer should expect.
type Sample struct {
	Title string // what it shows
	From  string
	// Build writes the raw message. replyTo is the Message-ID of refdesk's
	// reply to the previous sample, for samples that answer it.
	Build func(replyTo string) []byte
	// AnswersPrevious marks a sample that replies to refdesk's previous reply.
	AnswersPrevious bool
}

// message writes an RFC 5322 message with CRLF line ends.
func message(from, subject string, headers []string, contentType, body string) []byte {
	var b strings.Builder
	id := make([]byte, 8)
	rand.Read(id)
	domain := from[strings.LastIndexByte(from, '@')+1:]
	fmt.Fprintf(&b, "From: %s\r\nTo: Referrals <referrals@eastside.example>\r\nSubject: %s\r\n", from, subject)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n", time.Now().Format(time.RFC1123Z), hex.EncodeToString(id), strings.TrimSuffix(domain, ">"))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Type: %s\r\n\r\n", contentType)
	b.WriteString(strings.ReplaceAll(strings.TrimLeft(body, "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

const textPlain = "text/plain; charset=utf-8"

// Samples are the demo's referrals, in order.
func Samples() []Sample {
	maria := "Maria Lopez <maria.lopez@northside-housing.example>"
	james := "James Okafor <jokafor@westside-workforce.example>"
	return []Sample{
		{Title: "A complete referral in a plain email", From: maria, Build: func(string) []byte {
			return message(maria, "New referral - Dana", nil, textPlain, `
Hi Eastside team,

Please see a new referral below.

Client name: Dana Whitfield
Phone: (555) 014-2000
ZIP: 60601
Reason for referral: wants help with a budget and to save for a
  security deposit; has two credit cards in collections
Consent: yes
Share outcomes: yes
Case ID: NHA-2291
Best time to call: weekday mornings

Thanks,
Maria Lopez
Housing Specialist, Northside Housing Authority
Phone: 555-0111
`)
		}},
		{Title: "A client in crisis, sent from Outlook as an HTML table", From: james, Build: func(string) []byte {
			return message(james, "Referral", nil, "text/html; charset=utf-8", `
<html><body><p>Good afternoon,</p>
<table border="1" cellpadding="4">
<tr><td><b>Client Name</b></td><td>Luis Ortega</td></tr>
<tr><td><b>Cell</b></td><td>555-013-7788</td></tr>
<tr><td><b>Zip Code</b></td><td>60605</td></tr>
<tr><td><b>Needs</b></td><td>Got an eviction notice on Monday; rent is two months behind</td></tr>
<tr><td><b>Client consents</b></td><td>Yes</td></tr>
<tr><td><b>Case #</b></td><td>WWC-5510</td></tr>
</table>
<p>James Okafor<br>Career Navigator</p></body></html>
`)
		}},
		{Title: "A client outside the service area", From: maria, Build: func(string) []byte {
			return message(maria, "Referral for coaching", nil, textPlain, `
- **Client:** Priya Raman
- **Email:** priya.raman@example.org
- **ZIP code:** 60999
- **Goals:** improve credit score before applying for an apartment
- **Consent:** Yes
`)
		}},
		{Title: "A referral with consent and phone missing", From: james, Build: func(string) []byte {
			return message(james, "client referral", nil, textPlain, `
Hello,

Name: Terrence Hall
ZIP: 60603
Needs: budgeting after starting a new job; wants to open a bank account

James
`)
		}},
		{Title: "The caseworker answers with what was missing", From: james, AnswersPrevious: true, Build: func(replyTo string) []byte {
			return message(james, "Re: client referral", []string{"In-Reply-To: <" + replyTo + ">", "References: <" + replyTo + ">"}, textPlain, `
Consent: yes
Phone: 555-013-4455

Thanks!

On Tuesday, Eastside Financial Coaching wrote:
> Thank you for your referral. Before we can accept it we need:
>   - Phone or email for the client
>   - Consent
`)
		}},
		{Title: "An out-of-office auto-reply", From: "Maria Lopez <maria.lopez@northside-housing.example>", Build: func(string) []byte {
			return message(maria, "Automatic reply: Re: New referral - Dana", []string{"Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"}, textPlain, `
I am out of the office until Monday with limited access to email.
`)
		}},
		{Title: "Someone who is not a registered partner", From: "Sam Carter <sam.carter@gmail.example>", Build: func(string) []byte {
			return message("Sam Carter <sam.carter@gmail.example>", "Can you help my neighbor?", nil, textPlain, `
Name: Rosa Diaz
Phone: 555-014-9090
Consent: yes
`)
		}},
		{Title: "The same client referred again by another caseworker", From: "Ana Reyes <areyes@northside-housing.example>", Build: func(string) []byte {
			return message("Ana Reyes <areyes@northside-housing.example>", "referral", nil, textPlain, `
Client name: Dana Whitfield
Phone: 555-014-2000
Consent: yes
Needs: budgeting
`)
		}},
	}
}
