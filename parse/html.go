package parse

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText renders an HTML body as the plain text a caseworker meant:
// block elements and <br> end lines, white space is collapsed, script, style
// and head are dropped, entities decoded. A table row with two non-empty
// cells becomes "cell1: cell2" (Outlook and web-form tables), a longer row
// "a | b | c". Blockquotes, Gmail's div.gmail_quote and what follows
// Outlook's reply header are quoted with "> " so that StripQuoted removes
// them; forwarded messages are not quoted.
func HTMLToText(src string) string {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return ""
	}
	r := &renderer{tables: tableAncestors(doc)}
	r.children(doc, 0)
	return r.text()
}

// tableAncestors marks every node that has a table below it, in one pass.
func tableAncestors(doc *html.Node) map[*html.Node]bool {
	marked := map[*html.Node]bool{}
	stack := []*html.Node{doc}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Type == html.ElementNode && n.DataAtom == atom.Table {
			for p := n.Parent; p != nil && !marked[p]; p = p.Parent {
				marked[p] = true
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			stack = append(stack, c)
		}
	}
	return marked
}

// maxDepth bounds the renderer's recursion; deeper content is read as flat
// text.
const maxDepth = 200

type renderer struct {
	lines   []string
	cur     strings.Builder
	space   bool                // a space is pending before the next word
	pre     int                 // inside <pre>
	inQuote bool                // rendering inside a quote: nested quotes are not prefixed again
	tables  map[*html.Node]bool // nodes with a table inside (shared)
}

func (r *renderer) text() string {
	r.endLine()
	var out []string
	blank := true
	for _, l := range r.lines {
		if strings.TrimSpace(l) == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// newline ends the current line, even an empty one (<br>).
func (r *renderer) newline() {
	r.lines = append(r.lines, strings.TrimRight(r.cur.String(), " "))
	r.cur.Reset()
	r.space = false
}

// endLine ends the current line unless it is empty (block boundaries).
func (r *renderer) endLine() {
	if r.cur.Len() > 0 {
		r.newline()
	}
	r.space = false
}

func (r *renderer) write(s string) {
	if r.pre > 0 {
		for i, part := range strings.Split(s, "\n") {
			if i > 0 {
				r.newline()
			}
			r.cur.WriteString(strings.TrimRight(part, "\r"))
		}
		return
	}
	for _, c := range s {
		switch c {
		case ' ', '\t', '\n', '\r', '\f', '\u00a0', '\u2007', '\u202f':
			r.space = true
		case '\u200b', '\u200c', '\u200d', '\ufeff', '\u00ad':
		default:
			if r.space && r.cur.Len() > 0 {
				r.cur.WriteByte(' ')
			}
			r.space = false
			r.cur.WriteRune(c)
		}
	}
}

// lastLine is the last non-empty line written so far.
func (r *renderer) lastLine() string {
	if s := strings.TrimSpace(r.cur.String()); s != "" {
		return s
	}
	for i := len(r.lines) - 1; i >= 0 && i >= len(r.lines)-20; i-- {
		if s := strings.TrimSpace(r.lines[i]); s != "" {
			return s
		}
	}
	return ""
}

func (r *renderer) children(n *html.Node, depth int) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		r.node(c, depth+1)
	}
}

var blockElems = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Li: true, atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Dt: true,
	atom.Dd: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Table: true, atom.Tbody: true, atom.Thead: true, atom.Tfoot: true, atom.Caption: true,
	atom.Section: true, atom.Article: true, atom.Header: true, atom.Footer: true, atom.Address: true,
	atom.Form: true, atom.Fieldset: true, atom.Legend: true, atom.Center: true, atom.Figure: true,
	atom.Figcaption: true, atom.Nav: true, atom.Main: true, atom.Aside: true, atom.Body: true,
	atom.Html: true, atom.Hr: true, atom.Details: true, atom.Summary: true, atom.Option: true,
}

func (r *renderer) node(n *html.Node, depth int) {
	switch n.Type {
	case html.TextNode:
		r.write(n.Data)
		return
	case html.ElementNode:
	case html.DocumentNode:
		r.children(n, depth)
		return
	default:
		return // comments, doctypes
	}
	if depth > maxDepth {
		r.write(flatText(n, 1<<22))
		r.space = true
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title, atom.Noscript, atom.Template, atom.Svg, atom.Object, atom.Iframe:
		return
	case atom.Br:
		r.newline()
		return
	case atom.Img, atom.Input, atom.Select, atom.Button:
		r.space = true
		return
	case atom.Td, atom.Th:
		r.children(n, depth)
		r.space = true
		return
	case atom.Tr:
		r.row(n, depth)
		return
	case atom.Pre:
		r.endLine()
		r.pre++
		r.children(n, depth)
		r.pre--
		r.endLine()
		return
	case atom.Blockquote:
		r.quoted(n, depth, !forwardIntro(r.lastLine()))
		return
	case atom.Div:
		if (hasClass(n, "gmail_quote") || hasClass(n, "yahoo_quoted")) && !strings.Contains(strings.ToLower(flatText(n, 300)), "forwarded message") {
			r.quoted(n, depth, true)
			return
		}
		if outlookReplyHeader(n) {
			// Outlook puts the quoted thread after this header as siblings;
			// the rule line lets StripQuoted cut everything that follows.
			r.endLine()
			r.lines = append(r.lines, "", strings.Repeat("_", 32))
		}
	case atom.Li:
		r.endLine()
		r.write("- ")
		r.children(n, depth)
		r.endLine()
		return
	}
	block := blockElems[n.DataAtom]
	if block {
		r.endLine()
	}
	before := len(r.lines)
	r.children(n, depth)
	if block {
		empty := r.cur.Len() == 0 && len(r.lines) == before
		r.endLine()
		if empty && n.DataAtom == atom.P {
			r.lines = append(r.lines, "") // Outlook's <p>&nbsp;</p> is a blank line
		}
	}
}

// row renders a table row: two non-empty cells as "label: value", more as
// "a | b | c". A row holding a nested table is rendered cell by cell.
func (r *renderer) row(n *html.Node, depth int) {
	var cells []string
	nested := false
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || (c.DataAtom != atom.Td && c.DataAtom != atom.Th) {
			continue
		}
		if r.tables[c] {
			nested = true
			break
		}
		sub := &renderer{inQuote: r.inQuote, tables: r.tables}
		sub.children(c, depth)
		if t := sub.text(); strings.TrimSpace(t) != "" {
			cells = append(cells, t)
		}
	}
	r.endLine()
	if nested {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			r.node(c, depth+1)
			r.endLine()
		}
		return
	}
	switch len(cells) {
	case 0:
		return
	case 1:
		r.lines = append(r.lines, strings.Split(cells[0], "\n")...)
	case 2:
		label := strings.Join(strings.Fields(cells[0]), " ")
		if !strings.HasSuffix(label, ":") {
			label += ":"
		}
		// A multi-line value continues on indented lines.
		r.lines = append(r.lines, label+" "+strings.ReplaceAll(cells[1], "\n", "\n  "))
	default:
		for i, c := range cells {
			cells[i] = strings.Join(strings.Fields(c), " ")
		}
		r.lines = append(r.lines, strings.Join(cells, " | "))
	}
}

// quoted renders n's content, prefixed with "> " when quote is set.
func (r *renderer) quoted(n *html.Node, depth int, quote bool) {
	r.endLine()
	if !quote || r.inQuote {
		r.children(n, depth)
		r.endLine()
		return
	}
	sub := &renderer{inQuote: true, tables: r.tables}
	sub.children(n, depth)
	for _, l := range strings.Split(sub.text(), "\n") {
		if l == "" {
			r.lines = append(r.lines, ">")
		} else {
			r.lines = append(r.lines, "> "+l)
		}
	}
}

// forwardIntro tells whether a line introduces a forwarded message, as
// Apple Mail's "Begin forwarded message:" before its blockquote.
func forwardIntro(line string) bool {
	return forwardRE.MatchString(strings.TrimSpace(line))
}

// outlookReplyHeader matches Outlook's reply header: a div with a top
// border (desktop) or id divRplyFwdMsg (Outlook on the web) whose text
// starts with "From:".
func outlookReplyHeader(n *html.Node) bool {
	if !strings.Contains(strings.ToLower(attr(n, "style")), "border-top") && attr(n, "id") != "divRplyFwdMsg" {
		return false
	}
	t := flatText(n, 200)
	return isHeaderLine(t, "from") || isHeaderLine(t, "de") || isHeaderLine(t, "von")
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

// flatText is the text of n's subtree, words separated by spaces, without
// recursion, stopping after about limit bytes or 4*limit nodes.
func flatText(n *html.Node, limit int) string {
	var b strings.Builder
	stack := []*html.Node{n}
	for visits := 0; len(stack) > 0 && b.Len() < limit && visits < 4*limit; visits++ {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case c.Type == html.TextNode:
			b.WriteString(c.Data)
			b.WriteByte(' ')
			continue
		case c.Type == html.ElementNode && (c.DataAtom == atom.Script || c.DataAtom == atom.Style):
			continue
		}
		var kids []*html.Node
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			kids = append(kids, k)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, kids[i])
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
