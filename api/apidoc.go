package api

// This file renders an OpenAPI 3.1 JSON document into one self-contained
// HTML page: no script, no external resources, one inline <style> element
// whose content is the constant docStyle (see docsStyleHash for the CSP
// source). The document is decoded with an order-preserving decoder so that
// paths, operations, properties and responses appear in document order.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// renderDocs returns the HTML page of the OpenAPI document spec (JSON).
// It fails on invalid JSON, on a document without `openapi` or `paths`,
// and on a local $ref that cannot be resolved (the error names the $ref).
// The output is deterministic: the same input gives the same bytes.
func renderDocs(spec []byte) ([]byte, error) {
	v, err := docDecode(spec)
	if err != nil {
		return nil, fmt.Errorf("apidoc: invalid JSON: %w", err)
	}
	root, ok := v.(*docObject)
	if !ok {
		return nil, errors.New("apidoc: the document is not a JSON object")
	}
	if s, ok := root.get("openapi").(string); !ok || s == "" {
		return nil, errors.New("apidoc: missing `openapi` version string")
	}
	if root.obj("paths") == nil {
		return nil, errors.New("apidoc: missing `paths` object")
	}
	r := &docRenderer{root: root, schemaAnchors: map[string]string{}}
	if err := r.checkRefs(root); err != nil {
		return nil, err
	}
	page, err := r.page()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := docTemplate.ExecuteTemplate(&buf, "page", page); err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	return buf.Bytes(), nil
}

// docsStyleHash returns the Content-Security-Policy source that allows the
// page's only inline style, e.g. `style-src 'sha256-…'`.
func docsStyleHash() string {
	sum := sha256.Sum256([]byte(docStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// ---------------------------------------------------------------------------
// Order-preserving JSON decoding.

// docObject is a JSON object that remembers the order of its keys. Values
// are nil, bool, json.Number, string, []any or *docObject.
type docObject struct {
	keys []string
	vals map[string]any
}

func (o *docObject) get(k string) any {
	if o == nil {
		return nil
	}
	return o.vals[k]
}

func (o *docObject) has(k string) bool {
	if o == nil {
		return false
	}
	_, ok := o.vals[k]
	return ok
}

func (o *docObject) str(k string) string {
	s, _ := o.get(k).(string)
	return s
}

func (o *docObject) obj(k string) *docObject {
	v, _ := o.get(k).(*docObject)
	return v
}

func (o *docObject) arr(k string) []any {
	v, _ := o.get(k).([]any)
	return v
}

func (o *docObject) flag(k string) bool {
	v, _ := o.get(k).(bool)
	return v
}

const docMaxNesting = 1000

func docDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := docDecodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the top-level value")
	}
	return v, nil
}

func docDecodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > docMaxNesting {
		return nil, errors.New("nesting too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		o := &docObject{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := docDecodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := o.vals[k]; !dup {
				o.keys = append(o.keys, k)
			}
			o.vals[k] = v // the last duplicate wins, as in encoding/json
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return o, nil
	case '[':
		a := []any{}
		for dec.More() {
			v, err := docDecodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		return a, nil
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// docWriteJSON writes v as compact JSON, keeping object key order.
func docWriteJSON(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		b.WriteString(t.String())
	case string:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false) // html/template escapes the page
		_ = enc.Encode(t)
		b.Truncate(b.Len() - 1) // Encode appends a newline
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			docWriteJSON(b, e)
		}
		b.WriteByte(']')
	case *docObject:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			docWriteJSON(b, k)
			b.WriteByte(':')
			docWriteJSON(b, t.vals[k])
		}
		b.WriteByte('}')
	}
}

func docCompactJSON(v any) string {
	var b bytes.Buffer
	docWriteJSON(&b, v)
	return b.String()
}

const docMaxExample = 4000

func docPrettyJSON(v any) string {
	var b, out bytes.Buffer
	docWriteJSON(&b, v)
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return b.String()
	}
	s := out.String()
	if len(s) > docMaxExample {
		cut := docMaxExample
		for cut > 0 && (s[cut]&0xC0) == 0x80 { // don't split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "\n…"
	}
	return s
}

// ---------------------------------------------------------------------------
// Text: plain-text descriptions become paragraphs; `code` spans stay code.

type docSpan struct {
	Text string
	Code bool
}

type docPara []docSpan

type docText []docPara

var docBlankLine = regexp.MustCompile(`\n[ \t]*\n`)

func docParagraphs(s string) docText {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out docText
	for _, p := range docBlankLine.Split(s, -1) {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		parts := strings.Split(p, "`")
		if len(parts)%2 == 0 { // an unmatched backtick stays literal
			n := len(parts)
			parts[n-2] += "`" + parts[n-1]
			parts = parts[:n-1]
		}
		var para docPara
		for i, t := range parts {
			if t == "" {
				continue
			}
			para = append(para, docSpan{Text: t, Code: i%2 == 1})
		}
		out = append(out, para)
	}
	return out
}

// ---------------------------------------------------------------------------
// View model.

type docPage struct {
	Title    string
	Version  string
	Desc     docText
	Servers  []docServer
	Groups   []*docGroup
	Schemas  []docNamedSchema
	OpsCount int
}

type docServer struct {
	URL  string
	Desc string
}

type docGroup struct {
	Name string
	ID   string
	Desc docText
	Ops  []*docOperation
}

type docOperation struct {
	ID         string
	Method     string
	Class      string
	Path       string
	Summary    string
	Desc       docText
	Deprecated bool
	Security   string
	Params     []docParam
	Body       *docBody
	Responses  []docResponse
}

type docParam struct {
	Name       string
	In         string
	Required   bool
	Deprecated bool
	Schema     *docSchema
	Desc       docText
}

type docBody struct {
	Required bool
	Desc     docText
	Content  []docMedia
}

type docMedia struct {
	Type    string
	Schema  *docSchema
	Example string
	HasEx   bool
}

type docResponse struct {
	Code    string
	Class   string
	Desc    docText
	Headers []docHeader
	Content []docMedia
}

type docHeader struct {
	Name     string
	Required bool
	Schema   *docSchema
	Desc     docText
}

type docNamedSchema struct {
	Name   string
	ID     string
	Schema *docSchema
}

// docSchema is a compact view of a JSON schema.
type docSchema struct {
	Name    string // component name, when the schema is a link
	Link    string // anchor of the component in the Schemas section
	Type    string
	Note    string // e.g. "recursive"
	Cons    []string
	Desc    docText
	Props   []docProp
	Items   *docSchema
	Map     *docSchema
	AltKind string
	Alts    []*docSchema
}

type docProp struct {
	Name     string
	Required bool
	Schema   *docSchema
}

// ---------------------------------------------------------------------------
// Building the view model.

type docRenderer struct {
	root          *docObject
	schemaAnchors map[string]string
	stack         []string // non-component $refs being expanded
}

const docMaxSchemaDepth = 32

var docMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func (r *docRenderer) page() (*docPage, error) {
	info := r.root.obj("info")
	p := &docPage{
		Title:   info.str("title"),
		Version: info.str("version"),
		Desc:    docParagraphs(info.str("description")),
	}
	if p.Title == "" {
		p.Title = "API"
	}
	for _, s := range r.root.arr("servers") {
		if so, ok := s.(*docObject); ok && so.str("url") != "" {
			p.Servers = append(p.Servers, docServer{URL: so.str("url"), Desc: so.str("description")})
		}
	}

	// Component schema anchors first, so that links can be made anywhere.
	comps := r.root.obj("components").obj("schemas")
	schemaIDs := map[string]bool{}
	for _, name := range comps.keysOrNil() {
		r.schemaAnchors[name] = docUniqueID(schemaIDs, "schema-"+docSanitize(name))
	}

	// Groups: the top-level tags in order, then tags first seen on
	// operations, then untagged operations.
	groups := map[string]*docGroup{}
	var order []*docGroup
	groupIDs := map[string]bool{}
	addGroup := func(name string, desc docText) *docGroup {
		if g, ok := groups[name]; ok {
			return g
		}
		g := &docGroup{Name: name, Desc: desc, ID: docUniqueID(groupIDs, "tag-"+docSanitize(name))}
		groups[name] = g
		order = append(order, g)
		return g
	}
	for _, t := range r.root.arr("tags") {
		if to, ok := t.(*docObject); ok && to.str("name") != "" {
			addGroup(to.str("name"), docParagraphs(to.str("description")))
		}
	}
	var untagged []*docOperation
	opIDs := map[string]bool{}
	paths := r.root.obj("paths")
	for _, path := range paths.keys {
		item, err := r.deref(paths.vals[path])
		if err != nil {
			return nil, err
		}
		if item == nil {
			continue
		}
		for _, m := range item.keys {
			if !slices.Contains(docMethods, m) {
				continue
			}
			opObj, ok := item.vals[m].(*docObject)
			if !ok {
				continue
			}
			op, err := r.operation(path, m, item, opObj, opIDs)
			if err != nil {
				return nil, err
			}
			p.OpsCount++
			tag := ""
			if tags := opObj.arr("tags"); len(tags) > 0 {
				tag, _ = tags[0].(string)
			}
			if tag == "" {
				untagged = append(untagged, op)
				continue
			}
			g := addGroup(tag, nil)
			g.Ops = append(g.Ops, op)
		}
	}
	for _, g := range order {
		if len(g.Ops) > 0 {
			p.Groups = append(p.Groups, g)
		}
	}
	if len(untagged) > 0 {
		name := "Operations"
		if len(p.Groups) > 0 {
			name = "Other"
		}
		id := docUniqueID(groupIDs, "tag-"+docSanitize(name))
		p.Groups = append(p.Groups, &docGroup{Name: name, ID: id, Ops: untagged})
	}

	for _, name := range comps.keysOrNil() {
		s, err := r.schema(comps.vals[name], 0, true)
		if err != nil {
			return nil, err
		}
		if s == nil {
			s = &docSchema{Type: "any"}
		}
		p.Schemas = append(p.Schemas, docNamedSchema{Name: name, ID: r.schemaAnchors[name], Schema: s})
	}
	return p, nil
}

func (o *docObject) keysOrNil() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

func (r *docRenderer) operation(path, method string, item, o *docObject, ids map[string]bool) (*docOperation, error) {
	base := o.str("operationId")
	if base == "" {
		base = method + "-" + path
	}
	op := &docOperation{
		ID:         docUniqueID(ids, "op-"+docSanitize(base)),
		Method:     strings.ToUpper(method),
		Class:      "m-" + method,
		Path:       path,
		Summary:    o.str("summary"),
		Deprecated: o.flag("deprecated"),
	}
	desc := o.str("description")
	if desc == "" {
		desc = item.str("description") // the path item's applies to all
	}
	if op.Summary == "" {
		op.Summary = item.str("summary")
	}
	op.Desc = docParagraphs(desc)

	sec, err := r.security(o)
	if err != nil {
		return nil, err
	}
	op.Security = sec

	// Path-level parameters, overridden in place by operation-level ones
	// with the same name and location, then the remaining operation ones.
	pathParams, err := r.params(item.arr("parameters"))
	if err != nil {
		return nil, err
	}
	opParams, err := r.params(o.arr("parameters"))
	if err != nil {
		return nil, err
	}
	used := make([]bool, len(opParams))
	for _, pp := range pathParams {
		for i, q := range opParams {
			if !used[i] && q.Name == pp.Name && q.In == pp.In {
				pp, used[i] = q, true
				break
			}
		}
		op.Params = append(op.Params, pp)
	}
	for i, q := range opParams {
		if !used[i] {
			op.Params = append(op.Params, q)
		}
	}

	if o.has("requestBody") {
		rb, err := r.deref(o.get("requestBody"))
		if err != nil {
			return nil, err
		}
		if rb != nil {
			body := &docBody{Required: rb.flag("required"), Desc: docParagraphs(rb.str("description"))}
			if body.Content, err = r.content(rb.obj("content")); err != nil {
				return nil, err
			}
			op.Body = body
		}
	}

	resps := o.obj("responses")
	for _, code := range resps.keysOrNil() {
		ro, err := r.deref(resps.vals[code])
		if err != nil {
			return nil, err
		}
		if ro == nil {
			continue
		}
		resp := docResponse{Code: code, Class: docStatusClass(code), Desc: docParagraphs(ro.str("description"))}
		hs := ro.obj("headers")
		for _, name := range hs.keysOrNil() {
			ho, err := r.deref(hs.vals[name])
			if err != nil {
				return nil, err
			}
			if ho == nil {
				continue
			}
			h := docHeader{Name: name, Required: ho.flag("required"), Desc: docParagraphs(ho.str("description"))}
			if h.Schema, err = r.schema(r.paramSchema(ho), 0, true); err != nil {
				return nil, err
			}
			resp.Headers = append(resp.Headers, h)
		}
		if resp.Content, err = r.content(ro.obj("content")); err != nil {
			return nil, err
		}
		op.Responses = append(op.Responses, resp)
	}
	return op, nil
}

func (r *docRenderer) params(list []any) ([]docParam, error) {
	var out []docParam
	for _, v := range list {
		po, err := r.deref(v)
		if err != nil {
			return nil, err
		}
		if po == nil {
			continue
		}
		p := docParam{
			Name:       po.str("name"),
			In:         po.str("in"),
			Required:   po.flag("required"),
			Deprecated: po.flag("deprecated"),
			Desc:       docParagraphs(po.str("description")),
		}
		if p.Schema, err = r.schema(r.paramSchema(po), 0, true); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// paramSchema returns the schema of a parameter or header: `schema`, or
// the schema of the first media type of `content`.
func (r *docRenderer) paramSchema(o *docObject) any {
	if o.has("schema") {
		return o.get("schema")
	}
	c := o.obj("content")
	if c != nil && len(c.keys) > 0 {
		if mo, ok := c.vals[c.keys[0]].(*docObject); ok {
			return mo.get("schema")
		}
	}
	return nil
}

func (r *docRenderer) content(c *docObject) ([]docMedia, error) {
	var out []docMedia
	for _, ct := range c.keysOrNil() {
		mo, _ := c.vals[ct].(*docObject)
		m := docMedia{Type: ct}
		var err error
		if m.Schema, err = r.schema(mo.get("schema"), 0, true); err != nil {
			return nil, err
		}
		ex, ok, err := r.example(mo)
		if err != nil {
			return nil, err
		}
		if ok {
			m.Example, m.HasEx = docPrettyJSON(ex), true
		}
		out = append(out, m)
	}
	return out, nil
}

// example returns the first example of a media type object: `example`,
// the first of `examples`, or else the schema's example.
func (r *docRenderer) example(mo *docObject) (any, bool, error) {
	if mo == nil {
		return nil, false, nil
	}
	if mo.has("example") {
		return mo.get("example"), true, nil
	}
	if exs := mo.obj("examples"); exs != nil && len(exs.keys) > 0 {
		eo, err := r.deref(exs.vals[exs.keys[0]])
		if err != nil {
			return nil, false, err
		}
		if eo.has("value") {
			return eo.get("value"), true, nil
		}
		if u := eo.str("externalValue"); u != "" {
			return u, true, nil
		}
	}
	so, err := r.deref(mo.get("schema"))
	if err != nil {
		return nil, false, err
	}
	if so.has("example") {
		return so.get("example"), true, nil
	}
	if exs := so.arr("examples"); len(exs) > 0 {
		return exs[0], true, nil
	}
	return nil, false, nil
}

func (r *docRenderer) security(o *docObject) (string, error) {
	reqs, present := o.get("security").([]any)
	if !o.has("security") {
		reqs, present = r.root.get("security").([]any)
	}
	if !present || len(reqs) == 0 {
		return "none", nil
	}
	schemes := r.root.obj("components").obj("securitySchemes")
	var alts []string
	optional := false
	for _, req := range reqs {
		ro, ok := req.(*docObject)
		if !ok {
			continue
		}
		if len(ro.keys) == 0 {
			optional = true
			continue
		}
		var parts []string
		for _, name := range ro.keys {
			so, err := r.deref(schemes.get(name))
			if err != nil {
				return "", err
			}
			parts = append(parts, docDescribeScheme(name, so, ro.arr(name)))
		}
		alts = append(alts, strings.Join(parts, " and "))
	}
	s := strings.Join(alts, "; or ")
	if optional {
		if s == "" {
			return "none", nil
		}
		s += " (optional: may also be called without credentials)"
	}
	return s, nil
}

func docDescribeScheme(name string, so *docObject, scopes []any) string {
	var s string
	switch so.str("type") {
	case "http":
		if strings.EqualFold(so.str("scheme"), "bearer") {
			s = "bearer token required"
			if f := so.str("bearerFormat"); f != "" {
				s += " (" + f + ")"
			}
		} else {
			s = "HTTP " + so.str("scheme") + " authentication required"
		}
	case "apiKey":
		s = "API key required (" + so.str("in") + " " + so.str("name") + ")"
	case "oauth2":
		s = "OAuth 2.0 (" + name + ")"
	case "openIdConnect":
		s = "OpenID Connect (" + name + ")"
	case "mutualTLS":
		s = "mutual TLS required"
	default:
		s = name
	}
	var sc []string
	for _, v := range scopes {
		if t, ok := v.(string); ok {
			sc = append(sc, t)
		}
	}
	if len(sc) > 0 {
		s += ", scopes: " + strings.Join(sc, ", ")
	}
	return s
}

// schema builds the view of a schema. A $ref to a component schema becomes
// a link; when inline is true (the top of a body, parameter or component)
// the component is also expanded one level, its own references linked.
func (r *docRenderer) schema(v any, depth int, inline bool) (*docSchema, error) {
	var o *docObject
	switch t := v.(type) {
	case nil:
		return nil, nil
	case bool:
		if t {
			return &docSchema{Type: "any"}, nil
		}
		return &docSchema{Type: "nothing (always invalid)"}, nil
	case *docObject:
		o = t
	default:
		return &docSchema{Type: "invalid schema " + docCompactJSON(v)}, nil
	}
	if depth > docMaxSchemaDepth {
		return &docSchema{Note: "nested too deep"}, nil
	}
	if ref, ok := o.get("$ref").(string); ok {
		target, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		var s *docSchema
		if name, ok := docComponentName(ref); ok {
			if inline {
				if s, err = r.schema(target, depth+1, false); err != nil {
					return nil, err
				}
			}
			if s == nil {
				s = &docSchema{}
			}
			s.Name, s.Link = name, r.schemaAnchors[name]
			if s.Link == "" {
				s.Link = "schema-" + docSanitize(name)
			}
		} else {
			if slices.Contains(r.stack, ref) {
				return &docSchema{Name: ref, Note: "recursive"}, nil
			}
			r.stack = append(r.stack, ref)
			s, err = r.schema(target, depth+1, inline)
			r.stack = r.stack[:len(r.stack)-1]
			if err != nil {
				return nil, err
			}
			if s == nil {
				s = &docSchema{Type: "any"}
			}
		}
		if d := o.str("description"); d != "" {
			s.Desc = docParagraphs(d)
		}
		return s, nil
	}
	return r.build(o, depth)
}

func (r *docRenderer) build(o *docObject, depth int) (*docSchema, error) {
	s := &docSchema{Desc: docParagraphs(o.str("description"))}
	var types []string
	switch t := o.get("type").(type) {
	case string:
		types = append(types, t)
	case []any:
		for _, e := range t {
			if es, ok := e.(string); ok {
				types = append(types, es)
			}
		}
	}
	if len(types) == 0 {
		switch {
		case o.has("properties") || o.has("additionalProperties"):
			types = append(types, "object")
		case o.has("items"):
			types = append(types, "array")
		}
	}
	if o.flag("nullable") && !slices.Contains(types, "null") { // OpenAPI 3.0 style
		types = append(types, "null")
	}
	s.Type = strings.Join(types, " | ")

	if f := o.str("format"); f != "" {
		s.Cons = append(s.Cons, "format: "+f)
	}
	if p := o.str("pattern"); p != "" {
		s.Cons = append(s.Cons, "pattern: "+p)
	}
	for _, k := range []string{"minLength", "maxLength", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "minProperties", "maxProperties"} {
		if o.has(k) {
			s.Cons = append(s.Cons, k+": "+docCompactJSON(o.get(k)))
		}
	}
	if o.flag("uniqueItems") {
		s.Cons = append(s.Cons, "unique items")
	}
	if vals := o.arr("enum"); len(vals) > 0 {
		var e []string
		for _, v := range vals {
			e = append(e, docCompactJSON(v))
		}
		s.Cons = append(s.Cons, "enum: "+strings.Join(e, " | "))
	}
	if o.has("const") {
		s.Cons = append(s.Cons, "const: "+docCompactJSON(o.get("const")))
	}
	if o.has("default") {
		s.Cons = append(s.Cons, "default: "+docCompactJSON(o.get("default")))
	}
	for _, k := range []string{"readOnly", "writeOnly", "deprecated"} {
		if o.flag(k) {
			s.Cons = append(s.Cons, k)
		}
	}

	required := map[string]bool{}
	for _, v := range o.arr("required") {
		if name, ok := v.(string); ok {
			required[name] = true
		}
	}
	props := o.obj("properties")
	for _, name := range props.keysOrNil() {
		ps, err := r.schema(props.vals[name], depth+1, false)
		if err != nil {
			return nil, err
		}
		if ps == nil {
			ps = &docSchema{Type: "any"}
		}
		s.Props = append(s.Props, docProp{Name: name, Required: required[name], Schema: ps})
	}
	if o.has("items") {
		it, err := r.schema(o.get("items"), depth+1, false)
		if err != nil {
			return nil, err
		}
		s.Items = it
	}
	switch ap := o.get("additionalProperties").(type) {
	case bool:
		if ap {
			s.Map = &docSchema{Type: "any"}
		} else if len(s.Props) > 0 {
			s.Cons = append(s.Cons, "no other properties")
		}
	case *docObject:
		m, err := r.schema(ap, depth+1, false)
		if err != nil {
			return nil, err
		}
		s.Map = m
	}
	if s.Map != nil && s.Type == "object" && len(s.Props) == 0 {
		s.Type = "map"
	}
	for _, k := range []string{"oneOf", "anyOf", "allOf"} {
		alts := o.arr(k)
		if len(alts) == 0 {
			continue
		}
		if s.AltKind != "" { // several combinators: show the first, note the rest
			s.Cons = append(s.Cons, k+": "+strconv.Itoa(len(alts))+" schemas")
			continue
		}
		s.AltKind = map[string]string{"oneOf": "one of", "anyOf": "any of", "allOf": "all of"}[k]
		for _, a := range alts {
			as, err := r.schema(a, depth+1, false)
			if err != nil {
				return nil, err
			}
			if as == nil {
				as = &docSchema{Type: "any"}
			}
			s.Alts = append(s.Alts, as)
		}
	}
	if s.Type == "" && s.AltKind == "" && len(s.Cons) == 0 {
		s.Type = "any"
	}
	return s, nil
}

// docComponentName returns X for "#/components/schemas/X".
func docComponentName(ref string) (string, bool) {
	rest, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	if u, err := url.PathUnescape(rest); err == nil {
		rest = u
	}
	return docUnescapePointer(rest), true
}

func docUnescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// lookup resolves a local $ref ("#/a/b") as a JSON pointer in the document.
func (r *docRenderer) lookup(ref string) (any, error) {
	bad := fmt.Errorf("apidoc: unresolvable $ref %q", ref)
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, bad
	}
	if u, err := url.PathUnescape(frag); err == nil {
		frag = u
	}
	var cur any = r.root
	if frag == "" {
		return cur, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, bad
	}
	for _, part := range strings.Split(frag[1:], "/") {
		part = docUnescapePointer(part)
		switch c := cur.(type) {
		case *docObject:
			v, ok := c.vals[part]
			if !ok {
				return nil, bad
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) || strconv.Itoa(i) != part {
				return nil, bad
			}
			cur = c[i]
		default:
			return nil, bad
		}
	}
	return cur, nil
}

// deref follows $ref chains of a non-schema object (parameter, response,
// header, request body, example, security scheme, path item).
func (r *docRenderer) deref(v any) (*docObject, error) {
	for range 16 {
		o, ok := v.(*docObject)
		if !ok {
			return nil, nil
		}
		ref, ok := o.get("$ref").(string)
		if !ok {
			return o, nil
		}
		t, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		v = t
	}
	return nil, errors.New("apidoc: $ref chain too long")
}

// checkRefs resolves every $ref of the document, so that an unresolvable
// one fails the rendering even where the page would not show it. Example
// values and extensions are data, not schema, and are skipped.
func (r *docRenderer) checkRefs(v any) error {
	switch t := v.(type) {
	case *docObject:
		if ref, ok := t.get("$ref").(string); ok {
			if _, err := r.lookup(ref); err != nil {
				return err
			}
		}
		for _, k := range t.keys {
			switch {
			case k == "example" || k == "examples" || k == "default" || k == "const" || k == "enum":
				continue
			case strings.HasPrefix(k, "x-"):
				continue
			}
			if err := r.checkRefs(t.vals[k]); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := r.checkRefs(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// docSanitize makes an id fragment from s: letters, digits, '-' and '_'
// are kept; anything else becomes '-'.
func docSanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

func docUniqueID(used map[string]bool, id string) string {
	out := id
	for i := 2; used[out]; i++ {
		out = id + "-" + strconv.Itoa(i)
	}
	used[out] = true
	return out
}

func docStatusClass(code string) string {
	if len(code) == 3 && code[0] >= '1' && code[0] <= '5' {
		return "s" + code[:1]
	}
	return "sd"
}

// ---------------------------------------------------------------------------
// Page template and style.

// docStyle is the content of the page's only <style> element. Its SHA-256
// is the CSP source returned by docsStyleHash: change them together (the
// hash is computed, so only this text matters).
const docStyle = `:root{--fg:#111;--muted:#666;--bg:#fff;--line:#ddd;--accent:#0a58ca;--code:#f3f3f5;--req:#b02a37;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.45}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--muted:#a0a0a0;--bg:#141414;--line:#363636;--accent:#79a8ff;--code:#202024;--req:#ff8a95}}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:var(--bg)}
main{max-width:58rem;margin:0 auto;padding:1rem}
a{color:var(--accent)}
h1{font-size:1.6rem;margin:.2rem 0;word-break:break-word}
h1 small{font-size:.9rem;font-weight:400;color:var(--muted)}
h2{font-size:1rem;margin:2rem 0 .5rem;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
h3{font-size:1.05rem;margin:0 0 .4rem;word-break:break-word}
h4{font-size:.9rem;margin:1rem 0 .3rem}
p{margin:.4rem 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
code{background:var(--code);padding:0 .25em;border-radius:.25rem;overflow-wrap:anywhere}
pre{background:var(--code);padding:.6rem;border-radius:.4rem;overflow-x:auto;margin:.3rem 0}
pre,h3 code{overflow-wrap:normal}
.muted,.d{color:var(--muted)}
.d p{margin:.1rem 0}
.toc ul{list-style:none;padding:0;margin:.2rem 0}
.toc li{margin:.25rem 0}
.toc h3{font-size:.95rem;margin:.8rem 0 .2rem}
.toc a{text-decoration:none}
.op,.schema{border:1px solid var(--line);border-radius:.5rem;padding:.8rem;margin:1rem 0;scroll-margin-top:.5rem}
.op:target,.schema:target{border-color:var(--accent);box-shadow:0 0 0 1px var(--accent)}
.m{display:inline-block;min-width:4.2em;text-align:center;font:700 .72rem/1.7 ui-monospace,Menlo,Consolas,monospace;color:#fff;background:#5c636a;border-radius:.25rem;padding:0 .3em;vertical-align:.1em}
.m-get{background:#0a58ca}.m-post{background:#157347}.m-put{background:#a85300}.m-patch{background:#0b7285}.m-delete{background:#b02a37}
.sum{font-weight:600}
.dep{color:var(--req);font-weight:600}
.req{color:var(--req);font-size:.8em;font-weight:600}
.ty{color:var(--muted);font-style:italic}
.k{font-size:.78em}
.tw{overflow-x:auto;margin:.3rem 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;white-space:nowrap}
ul.props,ul.alts{list-style:none;margin:.2rem 0;padding-left:.9rem;border-left:2px solid var(--line)}
ul.props li,ul.alts li{margin:.25rem 0}
.resp{margin:.6rem 0;padding-top:.4rem;border-top:1px dashed var(--line)}
.rh{display:flex;gap:.6rem;align-items:baseline}
.st{font:700 .85rem ui-monospace,Menlo,Consolas,monospace;padding:0 .35em;border-radius:.25rem;border:1px solid currentColor}
.s2{color:#157347}.s3{color:#0b7285}.s4{color:#a85300}.s5{color:#b02a37}.sd{color:var(--muted)}
@media (prefers-color-scheme:dark){.s2{color:#63c58f}.s3{color:#5fc4d4}.s4{color:#f0a24a}.s5{color:#ff8a95}}
.media{margin:.4rem 0 .4rem .2rem}
.lbl{font-size:.8rem;color:var(--muted);margin-top:.3rem}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:2rem 1rem}`

const docTemplateText = `{{define "text"}}{{range .}}<p>{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}</p>{{end}}{{end}}
{{- define "head"}}{{if .Link}} <a href="#{{.Link}}"><code>{{.Name}}</code></a>{{else if .Name}} <code>{{.Name}}</code>{{end}}{{if .Type}} <span class="ty">{{.Type}}</span>{{end}}{{with .Note}} <span class="ty">({{.}})</span>{{end}}{{range .Cons}} <code class="k">{{.}}</code>{{end}}{{with .Items}} of{{template "head" .}}{{end}}{{with .Map}} of{{template "head" .}}{{end}}{{end}}
{{- define "body"}}{{with .Desc}}<div class="d">{{template "text" .}}</div>{{end}}{{with .Items}}{{template "body" .}}{{end}}{{with .Map}}{{template "body" .}}{{end}}{{if .Props}}<ul class="props">{{range .Props}}<li><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}{{template "schema" .Schema}}</li>{{end}}</ul>{{end}}{{if .Alts}}<div class="lbl">{{.AltKind}}:</div><ul class="alts">{{range .Alts}}<li>{{template "schema" .}}</li>{{end}}</ul>{{end}}{{end}}
{{- define "schema"}}{{template "head" .}}{{template "body" .}}{{end}}
{{- define "media"}}<div class="media"><div><code>{{.Type}}</code></div>{{with .Schema}}<div>{{template "schema" .}}</div>{{end}}{{if .HasEx}}<div class="lbl">Example</div><pre>{{.Example}}</pre>{{end}}</div>{{end}}
{{- define "op"}}<article class="op" id="{{.ID}}">
<h3><span class="m {{.Class}}">{{.Method}}</span> <code>{{.Path}}</code></h3>
{{with .Summary}}<p class="sum">{{.}}</p>{{end}}{{if .Deprecated}}<p class="dep">Deprecated</p>{{end}}{{template "text" .Desc}}
<p><span class="muted">Security:</span> {{.Security}}</p>
{{- if .Params}}
<h4>Parameters</h4>
<div class="tw"><table><thead><tr><th>Name</th><th>In</th><th>Required</th><th>Type / constraints</th><th>Description</th></tr></thead><tbody>
{{- range .Params}}
<tr><td><code>{{.Name}}</code>{{if .Deprecated}} <span class="req">deprecated</span>{{end}}</td><td>{{.In}}</td><td>{{if .Required}}<span class="req">yes</span>{{else}}no{{end}}</td><td>{{with .Schema}}{{template "schema" .}}{{end}}</td><td>{{template "text" .Desc}}</td></tr>
{{- end}}
</tbody></table></div>
{{- end}}
{{- with .Body}}
<h4>Request body{{if .Required}} <span class="req">required</span>{{end}}</h4>
{{template "text" .Desc}}{{range .Content}}{{template "media" .}}{{end}}
{{- end}}
{{- if .Responses}}
<h4>Responses</h4>
{{- range .Responses}}
<div class="resp"><div class="rh"><span class="st {{.Class}}">{{.Code}}</span><div>{{template "text" .Desc}}</div></div>
{{- if .Headers}}
<div class="lbl">Headers</div>
<div class="tw"><table><thead><tr><th>Name</th><th>Type</th><th>Description</th></tr></thead><tbody>
{{- range .Headers}}
<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{with .Schema}}{{template "schema" .}}{{end}}</td><td>{{template "text" .Desc}}</td></tr>
{{- end}}
</tbody></table></div>
{{- end}}
{{range .Content}}{{template "media" .}}{{end}}</div>
{{- end}}
{{- end}}
</article>
{{end}}
{{- define "page" -}}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{.Title}}{{with .Version}} {{.}}{{end}}</title>
<style>` + docStyle + `</style>
</head>
<body>
<main>
<header>
<h1>{{.Title}}{{with .Version}} <small>{{.}}</small>{{end}}</h1>
{{template "text" .Desc}}
{{- if .Servers}}
<p><span class="muted">Base URL:</span>{{range $i, $s := .Servers}}{{if $i}},{{end}} <code>{{$s.URL}}</code>{{with $s.Desc}} <span class="muted">({{.}})</span>{{end}}{{end}}</p>
{{- end}}
</header>
<nav class="toc" aria-label="Contents">
<h2>Contents</h2>
{{- range .Groups}}
<h3><a href="#{{.ID}}">{{.Name}}</a></h3>
<ul>
{{- range .Ops}}
<li><a href="#{{.ID}}"><span class="m {{.Class}}">{{.Method}}</span> <code>{{.Path}}</code></a>{{with .Summary}} — {{.}}{{end}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .Schemas}}
<h3><a href="#schemas">Schemas</a></h3>
{{- end}}
</nav>
{{range .Groups}}
<section id="{{.ID}}">
<h2>{{.Name}}</h2>
{{template "text" .Desc}}
{{range .Ops}}{{template "op" .}}{{end -}}
</section>
{{end}}
{{- if .Schemas}}
<section id="schemas">
<h2>Schemas</h2>
{{range .Schemas}}<article class="schema" id="{{.ID}}">
<h3>{{.Name}}</h3>
{{template "schema" .Schema}}
</article>
{{end -}}
</section>
{{- end}}
</main>
<footer>{{.OpsCount}} operations · generated from the OpenAPI document</footer>
</body>
</html>
{{end}}`

var docTemplate = template.Must(template.New("apidoc").Parse(docTemplateText))
