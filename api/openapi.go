package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.yaml.in/yaml/v3"
)

// specYAML is the API's OpenAPI document as written (openapi.yaml), the
// contract the tests hold the handlers to.
//
//go:embed openapi.yaml
var specYAML []byte

// OpenAPI returns the API's OpenAPI 3.1 document as JSON, its keys in the
// order openapi.yaml writes them: what GET /openapi.json serves (a copy).
func OpenAPI() []byte { return bytes.Clone(spec.json) }

// spec is the document in the forms it is served in, made once: the
// document cannot change while the process runs.
var spec = mustSpec(specYAML)

type specForms struct {
	json, html []byte
	// jsonETag and htmlETag are the strong validators of each form.
	jsonETag, htmlETag string
}

func mustSpec(doc []byte) specForms {
	j, err := yamlToJSON(doc)
	if err != nil {
		panic(fmt.Sprintf("api: openapi.yaml: %v", err))
	}
	h, err := renderDocs(j)
	if err != nil {
		panic(fmt.Sprintf("api: openapi.yaml: render: %v", err))
	}
	return specForms{json: j, html: h, jsonETag: strongETag(j), htmlETag: strongETag(h)}
}

func strongETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// yamlToJSON converts a YAML document to JSON, keeping the order of its
// mappings' keys (a map would sort them: paths would no longer read in
// the order the document tells them) and following anchors and aliases.
func yamlToJSON(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := nodeJSON(&buf, &root, 0); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// maxAliasDepth bounds the aliases followed within one another: the
// document is ours, but a cycle must not hang the process's start.
const maxAliasDepth = 32

func nodeJSON(buf *bytes.Buffer, n *yaml.Node, aliases int) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document, have %d", n.Line, len(n.Content))
		}
		return nodeJSON(buf, n.Content[0], aliases)
	case yaml.AliasNode:
		if aliases >= maxAliasDepth {
			return fmt.Errorf("line %d: aliases nested over %d deep", n.Line, maxAliasDepth)
		}
		return nodeJSON(buf, n.Alias, aliases+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		// A key given twice would hide the first value from every reader
		// of the JSON (each keeps the last): a path or a status gone.
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("line %d: a key must be a plain scalar", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: key %q given twice in one mapping", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := nodeJSON(buf, n.Content[i+1], aliases); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := nodeJSON(buf, c, aliases); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		switch v.(type) {
		case nil, bool, int, int64, uint64, float64, string:
		default:
			// A timestamp or binary: JSON has neither, and the document
			// means its text.
			v = n.Value
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

// specCacheControl lets browsers and the edge keep the document a few
// minutes: it changes only with a new release, whose ETag then differs.
const specCacheControl = "public, max-age=300, stale-if-error=86400"

// docsCSP is the rendered document's policy: no script at all, only its
// one inline style.
var docsCSP = "default-src 'none'; style-src " + docsStyleHash() + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveSpec answers GET /openapi.json and GET /docs.
func serveSpec(contentType string, body []byte, etag string, csp string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", specCacheControl)
		h.Set("ETag", etag)
		if csp != "" {
			h.Set("Content-Security-Policy", csp)
		}
		// ServeContent answers If-None-Match with 304 and HEAD without a
		// body, as the page does.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}
}
