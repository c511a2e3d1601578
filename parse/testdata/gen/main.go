// Command gen writes the attachment test messages in parse/testdata (the
// .eml files that carry a CSV, an XLSX, a PDF, a DOCX, a JSON form, a vCard
// or a forwarded message). Their output is committed; run it again only to
// change them:
//
//	go run ./parse/testdata/gen
//
// The XLSX is written with excelize, the PDF and DOCX by hand (a PDF with an
// AcroForm and a WordprocessingML zip are a few objects each), so that every
// byte of the fixtures is ours.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/xuri/excelize/v2"
)

const dir = "parse/testdata"

func main() {
	if _, err := os.Stat(dir); err != nil {
		log.Fatalf("run from the repository root: %v", err)
	}
	write("attach-csv-batch.eml", csvBatch())
	write("attach-xlsx.eml", xlsxMessage())
	write("attach-pdf-form.eml", pdfFormMessage())
	write("attach-pdf-text.eml", pdfTextMessage())
	write("attach-docx-form.eml", docxMessage())
	write("attach-vcard.eml", vcardMessage())
	write("attach-json-noreply.eml", jsonMessage())
	write("attach-forward-rfc822.eml", forwardMessage())
	write("attach-unreadable.eml", unreadableMessage())
	write("attach-charsets.eml", charsetMessage())
	write("malformed-multipart.eml", malformedMessage())
}

func write(name, msg string) {
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if err := os.WriteFile(filepath.Join(dir, name), []byte(msg), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", name)
}

// header is the top of a message from a Northside caseworker.
func header(from, subject, id, date, boundary string) string {
	return fmt.Sprintf(`Return-Path: <%[1]s>
Received: from mail.northside-housing.example (mail.northside-housing.example [192.0.2.25])
	by mx.eastside.example (Postfix) with ESMTPS id 4Q9A%[3]s
	for <referrals@eastside.example>; %[4]s
Authentication-Results: mx.eastside.example;
	dkim=pass header.d=northside-housing.example header.s=sel1;
	spf=pass smtp.mailfrom=%[1]s;
	dmarc=pass header.from=northside-housing.example
From: %[6]s
To: Eastside Financial Coaching <referrals@eastside.example>
Subject: %[2]s
Date: %[4]s
Message-ID: <%[3]s@northside-housing.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="%[5]s"

This is a multi-part message in MIME format.
`, addrOf(from), subject, id, date, boundary, from)
}

func addrOf(from string) string {
	if i := strings.IndexByte(from, '<'); i >= 0 {
		return strings.TrimSuffix(from[i+1:], ">")
	}
	return from
}

func textPart(boundary, text string) string {
	return fmt.Sprintf("--%s\nContent-Type: text/plain; charset=\"UTF-8\"\nContent-Transfer-Encoding: 7bit\n\n%s\n", boundary, text)
}

// filePart is a base64 attachment, lines of 76 characters (RFC 2045 §6.8).
func filePart(boundary, ctype, disposition string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return fmt.Sprintf("--%s\nContent-Type: %s\nContent-Disposition: %s\nContent-Transfer-Encoding: base64\n\n%s", boundary, ctype, disposition, b.String())
}

const maria = "Maria Lopez <maria.lopez@northside-housing.example>"

const signature = `
Maria Lopez, Housing Caseworker
Northside Housing Authority
Phone: 555-0100`

func csvBatch() string {
	b := "----=_Part_3301"
	csv := "\ufeffClient Name,Phone,Email,ZIP,Reason for referral,Crisis,Consent,Case ID\r\n" +
		"Dana Whitfield,(555) 014-2000,dana.whitfield@example.com,60601,\"Budgeting, and building credit\",no,yes,NH-3001\r\n" +
		"Keisha Brown,555-014-2011,,60602,\"Eviction notice received; wants a budget after\",no,yes,NH-3002\r\n" +
		"Omar Haddad,555-014-2022,,60603,Wants to open a savings account,no,,NH-3003\r\n"
	return header(maria, "Referrals for March (3)", "csv-batch-3301", "Tue, 10 Mar 2026 09:12:00 -0500", b) +
		textPart(b, "Hello Eastside team,\n\nThree referrals from our March intake are in the attached spreadsheet.\n\nReferred by: Maria Lopez\nWorker phone: 555-0100\nNotes: all three live in Northside properties\n"+signature) +
		filePart(b, "text/csv; charset=\"UTF-8\"; name=\"march-referrals.csv\"", "attachment; filename=\"march-referrals.csv\"", []byte(csv)) +
		"--" + b + "--\n"
}

func xlsxMessage() string {
	f := excelize.NewFile()
	sheet := "Referrals"
	f.SetSheetName("Sheet1", sheet)
	rows := [][]any{
		{"Northside Housing Authority - financial coaching referrals"},
		{},
		{"First Name", "Last Name", "Cell Phone", "Date of Birth", "Zip Code", "Services Requested", "Client Consents to Contact", "Case #"},
		{"Luis", "Ortega", "555-014-2031", "07/04/1979", "60602", "Credit report review", "Yes", "NH-3010"},
		{"Aisha", "Bello", "5550142032", "11/02/1990", "60601", "Savings plan", "Y", "NH-3011"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &r); err != nil {
			log.Fatal(err)
		}
	}
	// A second sheet without a header row: instructions, not referrals.
	f.NewSheet("Instructions")
	f.SetCellValue("Instructions", "A1", "One client per row. Consent must be Yes.")
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		log.Fatal(err)
	}
	b := "_000_XLSX0310_"
	return header(maria, "Two referrals (spreadsheet)", "xlsx-3010", "Tue, 10 Mar 2026 10:30:00 -0500", b) +
		textPart(b, "Hi, two more referrals attached.\n"+signature) +
		filePart(b, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name=\"referrals.xlsx\"",
			"attachment; filename=\"referrals.xlsx\"", buf.Bytes()) +
		"--" + b + "--\n"
}

// pdfDoc assembles a PDF from object bodies (object i+1 is objs[i]) with a
// correct cross-reference table.
func pdfDoc(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func stream(content string) string {
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
}

func pdfForm() []byte {
	type field struct{ name, tip, value string }
	fields := []field{
		{"ClientName", "Client name", "Nadia Petrov"},
		{"ClientPhone", "Client phone", "(555) 014-2055"},
		{"ClientEmail", "", "nadia.petrov@example.com"},
		{"ZIP", "ZIP code", "60604"},
		{"ReasonForReferral", "Reason for referral", "Help with a budget and paying down a car loan"},
		{"PartnerCaseID", "Case ID", "NH-3020"},
		{"PreferredLanguage", "Preferred language", "Russian"},
	}
	// objects: 1 catalog, 2 pages, 3 page, 4 font, 5 content, 6.. fields, then checkbox + its two appearances
	first := 6
	var content strings.Builder
	content.WriteString("BT /F1 16 Tf 50 750 Td (Northside Housing Authority - Referral Form) Tj ET\n")
	var objs []string
	var refs []string
	y := 700
	for i, f := range fields {
		n := first + i
		refs = append(refs, fmt.Sprintf("%d 0 R", n))
		tip := ""
		if f.tip != "" {
			tip = fmt.Sprintf(" /TU (%s)", f.tip)
		}
		objs = append(objs, fmt.Sprintf("<< /Type /Annot /Subtype /Widget /FT /Tx /T (%s)%s /V (%s) /DA (/F1 10 Tf 0 g) /Rect [200 %d 500 %d] /P 3 0 R /F 4 >>",
			f.name, tip, f.value, y-4, y+14))
		label := f.tip
		if label == "" {
			label = "Client email"
		}
		fmt.Fprintf(&content, "BT /F1 11 Tf 50 %d Td (%s:) Tj ET\n", y, label)
		y -= 30
	}
	cb := first + len(fields)
	refs = append(refs, fmt.Sprintf("%d 0 R", cb))
	objs = append(objs, fmt.Sprintf("<< /Type /Annot /Subtype /Widget /FT /Btn /T (Consent) /TU (Client consents to contact) /V /Yes /AS /Yes /Rect [200 %d 214 %d] /P 3 0 R /F 4 /AP << /N << /Yes %d 0 R /Off %d 0 R >> >> >>",
		y-2, y+12, cb+1, cb+2))
	objs = append(objs, "<< /Type /XObject /Subtype /Form /BBox [0 0 14 14] /Length 25 >>\nstream\n0 0 m 14 14 l 0 14 m 14 0 l S\nendstream")
	objs = append(objs, "<< /Type /XObject /Subtype /Form /BBox [0 0 14 14] /Length 0 >>\nstream\n\nendstream")
	fmt.Fprintf(&content, "BT /F1 11 Tf 50 %d Td (Client consents to contact:) Tj ET\n", y)
	head := []string{
		fmt.Sprintf("<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [%s] /DA (/F1 10 Tf 0 g) /DR << /Font << /F1 4 0 R >> >> >> >>", strings.Join(refs, " ")),
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources << /Font << /F1 4 0 R >> >> /Annots [%s] >>", strings.Join(refs, " ")),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		stream(content.String()),
	}
	return pdfDoc(append(head, objs...))
}

func pdfFormMessage() string {
	b := "------------0A1B2C3D4E5F"
	return header(maria, "Referral form attached", "pdf-form-3020", "Wed, 11 Mar 2026 08:45:00 -0500", b) +
		textPart(b, "Good morning, the client's referral form is attached.\n"+signature) +
		filePart(b, "application/pdf; name=\"Referral Form.pdf\"", "attachment; filename=\"Referral Form.pdf\"", pdfForm()) +
		"--" + b + "--\n"
}

func pdfText() []byte {
	lines := []string{
		"Referral for financial coaching",
		"Client name: Grace Kim",
		"Phone: 555-014-2061",
		"ZIP code: 60605",
		"Reason for referral: wants a plan for student loans",
		"Consent: Yes (signed 3/9/2026)",
		"Case number: NH-3030",
	}
	var c strings.Builder
	c.WriteString("BT /F1 12 Tf 14 TL 50 740 Td\n")
	for i, l := range lines {
		if i == 0 {
			fmt.Fprintf(&c, "(%s) Tj\n", l)
			continue
		}
		fmt.Fprintf(&c, "T* (%s) Tj\n", l) // balanced parentheses need no escape
	}
	c.WriteString("ET")
	return pdfDoc([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources << /Font << /F1 4 0 R >> >> >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		stream(c.String()),
	})
}

func pdfTextMessage() string {
	b := "=_pdftext_3030"
	return header(maria, "Scanned-to-PDF referral", "pdf-text-3030", "Wed, 11 Mar 2026 09:05:00 -0500", b) +
		textPart(b, "See attached.\n"+signature) +
		filePart(b, "application/pdf", "attachment; filename=\"kim-referral.pdf\"", pdfText()) +
		"--" + b + "--\n"
}

func docx() []byte {
	row := func(cells ...string) string {
		var b strings.Builder
		b.WriteString("<w:tr>")
		for _, c := range cells {
			fmt.Fprintf(&b, `<w:tc><w:tcPr><w:tcW w:w="4000" w:type="dxa"/></w:tcPr><w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p></w:tc>`, c)
		}
		b.WriteString("</w:tr>")
		return b.String()
	}
	para := func(s string) string {
		return fmt.Sprintf(`<w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, s)
	}
	doc := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"><w:body>` +
		para("NORTHSIDE HOUSING AUTHORITY") + para("Referral to Financial Coaching") +
		`<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/></w:tblPr>` +
		row("Client Name", "Marcus Reed") +
		row("Date of Birth", "05/22/1975") +
		row("Phone", "555-014-2071") +
		row("Email", "marcus.reed@example.com") +
		row("ZIP", "60606") +
		row("Preferred Language", "English") +
		row("Reason for Referral", "Rebuild credit after a bankruptcy; wants a monthly budget") +
		row("Case ID", "NH-3040") +
		`<w:tr><w:tc><w:p><w:r><w:t>Client consents to contact</w:t></w:r></w:p></w:tc><w:tc><w:sdt><w:sdtPr><w14:checkbox><w14:checked w14:val="1"/></w14:checkbox></w:sdtPr><w:sdtContent><w:p><w:r><w:t>☒</w:t></w:r><w:r><w:t xml:space="preserve"> Yes</w:t></w:r></w:p></w:sdtContent></w:sdt></w:tc></w:tr>` +
		`</w:tbl>` +
		para("Best time to call: weekday afternoons") +
		para("Referred by: Maria Lopez") +
		`<w:sectPr/></w:body></w:document>`
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", doc},
	}
	for _, f := range files {
		w, err := z.Create(f.name)
		if err != nil {
			log.Fatal(err)
		}
		w.Write([]byte(f.body))
	}
	if err := z.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func docxMessage() string {
	b := "_004_DOCX3040_"
	return header(maria, "Referral - Word form", "docx-3040", "Thu, 12 Mar 2026 11:20:00 -0500", b) +
		textPart(b, "Hello, please find the referral form attached.\n"+signature) +
		filePart(b, "application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"Referral form.docx\"",
			"attachment; filename=\"Referral form.docx\"", docx()) +
		"--" + b + "--\n"
}

func vcardMessage() string {
	b := "Apple-Mail=_5E7F3C1A"
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Delgado;Rosa;;;\r\nFN:Rosa Delgado\r\nTEL;TYPE=HOME,VOICE:555-014-2099\r\nTEL;TYPE=CELL:(555) 014-2081\r\n" +
		"EMAIL;TYPE=INTERNET:rosa.delgado@example.com\r\nADR;TYPE=HOME:;;1200 W Lake St;Chicago;IL;60607;USA\r\nEND:VCARD\r\n"
	return header(maria, "Referral - contact card attached", "vcard-3050", "Thu, 12 Mar 2026 13:00:00 -0500", b) +
		textPart(b, "Hi team,\n\nReferral for the client on the attached contact card.\n\nReason for referral: budgeting after a job loss, wants to save for a deposit\nConsent: yes\nShare outcomes: yes\nCase ID: NH-3050\n"+signature) +
		filePart(b, "text/vcard; charset=utf-8; name=\"Rosa Delgado.vcf\"", "attachment; filename=\"Rosa Delgado.vcf\"", []byte(card)) +
		"--" + b + "--\n"
}

func jsonMessage() string {
	b := "b1_7f3a9c0e2d"
	js := `{
  "form": "Financial coaching referral",
  "submission_id": "S-88213",
  "submitted_at": "2026-03-13T15:02:11Z",
  "client": {
    "first_name": "Samuel",
    "last_name": "Ortiz",
    "phone": "+1 555 014 2091",
    "email": "sam.ortiz@example.com",
    "zip": "60603",
    "date_of_birth": "1971-10-30"
  },
  "reason_for_referral": "Wants to stop using payday loans",
  "in_crisis": false,
  "consent_to_contact": true,
  "share_outcomes": false,
  "referrer": {"name": "Maria Lopez", "phone": "555-0100", "email": "maria.lopez@northside-housing.example"},
  "case_id": "NH-3060"
}
`
	msg := header("Northside Forms <noreply-forms@northside-housing.example>", "Form submission S-88213", "json-3060", "Fri, 13 Mar 2026 15:02:15 +0000", b)
	return msg +
		textPart(b, "A new referral form was submitted. The answers are attached as JSON.\n\nThis mailbox is not monitored.") +
		filePart(b, "application/json; name=\"submission-S-88213.json\"", "attachment; filename=\"submission-S-88213.json\"", []byte(js)) +
		"--" + b + "--\n"
}

func forwardMessage() string {
	b := "------------F0RWARD3070"
	inner := `From: Front Desk <frontdesk@northside-housing.example>
To: Maria Lopez <maria.lopez@northside-housing.example>
Subject: Walk-in referral for coaching
Date: Fri, 13 Mar 2026 09:40:00 -0500
Message-ID: <frontdesk-3070@northside-housing.example>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Maria,

A resident came to the front desk asking about money coaching:

Client name: Jos=E9 Pe=F1a
Phone: 555-014-2101
ZIP: 60601
Reason: wants help with a budget and his credit report
Consent: yes, signed today
Case #: NH-3070

Thanks,
Front Desk
`
	return header(maria, "Fwd: Walk-in referral for coaching", "fwd-3070", "Fri, 13 Mar 2026 10:02:00 -0500", b) +
		textPart(b, "Forwarding the front desk's note below - please take this one.\n"+signature) +
		fmt.Sprintf("--%s\nContent-Type: message/rfc822; name=\"Walk-in referral for coaching.eml\"\nContent-Disposition: attachment; filename=\"Walk-in referral for coaching.eml\"\n\n%s\n", b, inner) +
		"--" + b + "--\n"
}

func unreadableMessage() string {
	b := "=_unreadable_3080"
	return header(maria, "Referral", "unreadable-3080", "Mon, 16 Mar 2026 08:00:00 -0500", b) +
		textPart(b, "Referral below; the intake sheet is attached too.\n\nClient name: Ben Okafor\nPhone: 555-014-2111\nZIP: 60601\nConsent: yes\nReason: credit building\n"+signature) +
		filePart(b, "application/vnd.ms-excel", "attachment; filename=\"intake.xls\"", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old binary workbook")) +
		filePart(b, "application/pdf", "attachment; filename=\"scan.pdf\"", []byte("%PDF-1.4\ngarbage that is not a pdf\n")) +
		"--" + b + "--\n"
}

func charsetMessage() string {
	// The body says ISO-8859-1 but is UTF-8 (a wrong declaration); the text
	// attachment has no charset and is windows-1252; its file name is RFC
	// 2231-encoded in ISO-8859-1, the subject RFC 2047 in UTF-8.
	b := "=_charsets_3090"
	return `From: Maria Lopez <maria.lopez@northside-housing.example>
To: referrals@eastside.example
Subject: =?UTF-8?B?UmVmZXJyYWw6IFJlbsOpZQ==?=
Date: Mon, 16 Mar 2026 09:00:00 -0500
Message-ID: <charsets-3090@northside-housing.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="` + b + `"

--` + b + `
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit

Referral attached (notes from the client's file).

Client name: Renée Fontaine
Phone: 555-014-2121
Consent: yes
--` + b + `
Content-Type: text/plain
Content-Disposition: attachment; filename*=iso-8859-1''notas%20de%20Pe%F1a.txt
Content-Transfer-Encoding: 8bit

Preferred language: Espa` + "\xf1" + `ol
Notes: prefers ` + "\x93" + `text first` + "\x94" + `, then a call
--` + b + `--
`
}

func malformedMessage() string {
	// A multipart whose closing boundary is missing, with a part header
	// that is broken and a stray line between parts: the text part is
	// still readable.
	return `From: Maria Lopez <maria.lopez@northside-housing.example>
To: referrals@eastside.example
Subject: Referral (sent from my phone)
Date: Mon, 16 Mar 2026 10:00:00 -0500
Message-ID: <malformed-3100@northside-housing.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XyZ-3100"

garbage before the first boundary
--XyZ-3100
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Client name: Priya Shah
Phone: 555-014-2131
Consent: yes
Reason: wants to make a budget =E2=80=93 new job

--XyZ-3100
Content-Type: application/pdf; name="scan
Content-Transfer-Encoding: base64

JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJh
`
}
