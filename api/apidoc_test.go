package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// docSampleSpec is a small OpenAPI 3.1 document. Its paths are deliberately
// not in alphabetical order, and its keys not sorted, to check that the
// page keeps document order.
const docSampleSpec = `{
  "openapi": "3.1.0",
  "info": {
    "title": "Pet Store",
    "version": "1.2.0",
    "description": "A sample API for the renderer.\n\nUse ` + "`Authorization: Bearer <token>`" + ` for writes."
  },
  "servers": [{"url": "https://api.example.test/v1", "description": "production"}],
  "security": [{"bearerAuth": []}],
  "tags": [
    {"name": "pets", "description": "Everything about pets."},
    {"name": "users"}
  ],
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets",
        "tags": ["pets"],
        "summary": "List pets",
        "security": [],
        "parameters": [
          {"name": "limit", "in": "query", "description": "Page size.",
           "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "status", "in": "query",
           "schema": {"type": "string", "enum": ["available", "sold"]}}
        ],
        "responses": {
          "200": {
            "description": "A page of pets.",
            "headers": {
              "X-Next-Cursor": {"description": "Cursor of the next page, if any.", "schema": {"type": "string"}}
            },
            "content": {
              "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
                "example": [{"id": "p-1", "name": "Rex", "nickname": null}]
              }
            }
          }
        }
      }
    },
    "/pets/{petId}": {
      "parameters": [{"$ref": "#/components/parameters/PetId"}],
      "put": {
        "operationId": "updatePet",
        "tags": ["pets"],
        "summary": "Replace a pet",
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}
        },
        "responses": {
          "200": {"description": "The stored pet.",
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      },
      "get": {
        "operationId": "getPet",
        "tags": ["pets"],
        "summary": "Get a pet",
        "responses": {
          "200": {
            "description": "The pet.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
            "content": {"application/json": {
              "schema": {"$ref": "#/components/schemas/Pet"},
              "examples": {"rex": {"value": {"id": "p-1", "name": "Rex", "tag": "dog"}}}
            }}
          },
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/users/{userId}": {
      "delete": {
        "operationId": "deleteUser",
        "tags": ["users"],
        "summary": "Delete a user",
        "description": "Removes the user. Beware: <script>alert(1)</script> & co.",
        "parameters": [
          {"name": "userId", "in": "path", "required": true, "description": "The user id.",
           "schema": {"type": "string", "pattern": "^u-[a-z0-9]{4,32}$", "minLength": 6, "maxLength": 34}}
        ],
        "responses": {"204": {"description": "Deleted."}}
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    },
    "parameters": {
      "PetId": {"name": "petId", "in": "path", "required": true,
                "schema": {"type": "string", "pattern": "^p-[0-9]+$"}}
    },
    "headers": {
      "ETag": {"description": "Version of the pet.", "schema": {"type": "string"}}
    },
    "responses": {
      "NotFound": {"description": "No such resource.",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Pet": {
        "type": "object",
        "required": ["name", "id"],
        "properties": {
          "name": {"type": "string", "maxLength": 64},
          "id": {"type": "string", "readOnly": true},
          "nickname": {"type": ["string", "null"], "description": "Optional nickname."},
          "tag": {"oneOf": [{"type": "string", "const": "dog"}, {"type": "string", "const": "cat"}]},
          "labels": {"type": "object", "additionalProperties": {"type": "string"}},
          "family": {"$ref": "#/components/schemas/Node"}
        }
      },
      "Node": {
        "type": "object",
        "properties": {
          "value": {"type": "integer", "format": "int64"},
          "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
          "next": {"$ref": "#/components/schemas/Node/properties/next"}
        }
      },
      "Error": {
        "type": "object",
        "properties": {"message": {"type": "string"}}
      }
    }
  }
}`

func docRenderSample(t *testing.T) string {
	t.Helper()
	out, err := renderDocs([]byte(docSampleSpec))
	if err != nil {
		t.Fatalf("renderDocs: %v", err)
	}
	return string(out)
}

// docSection returns the operation section with the given anchor.
func docSection(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<article class="op" id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no section %s", id)
	}
	end := strings.Index(page[start:], "</article>")
	return page[start : start+end]
}

func TestRenderDocsOperationsInOrder(t *testing.T) {
	page := docRenderSample(t)
	// Document order: /pets GET, /pets/{petId} PUT then GET, /users DELETE.
	// The groups follow the top-level tags (pets, users), which agree here.
	ids := []string{"op-listPets", "op-updatePet", "op-getPet", "op-deleteUser"}
	for _, where := range []string{`<li><a href="#`, `<article class="op" id="`} {
		last := -1
		for _, id := range ids {
			i := strings.Index(page, where+id+`"`)
			if i < 0 {
				t.Fatalf("%s%s missing", where, id)
			}
			if i <= last {
				t.Errorf("%s%s out of document order", where, id)
			}
			last = i
		}
	}
	for _, want := range []string{
		"<title>Pet Store 1.2.0</title>",
		`<code>Authorization: Bearer &lt;token&gt;</code>`,
		`<span class="m m-put">PUT</span> <code>/pets/{petId}</code>`,
		`pattern: ^p-[0-9]&#43;$`,
		`<span class="ty">string | null</span>`,
		` of <a href="#schema-Pet"><code>Pet</code></a>`,
		`<a href="#schema-Node"><code>Node</code></a>`,
		`<code>X-Next-Cursor</code>`,
		"Cursor of the next page, if any.",
		`<code>ETag</code>`,
		`&#34;name&#34;: &#34;Rex&#34;`,
		`<h3>Pet</h3>`, `<h3>Node</h3>`, `<h3>Error</h3>`,
		`id="tag-pets"`, `id="tag-users"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !strings.Contains(docSection(t, page, "op-updatePet"), "bearer token required") {
		t.Error("updatePet: no bearer requirement (document default)")
	}
	if s := docSection(t, page, "op-listPets"); strings.Contains(s, "bearer") || !strings.Contains(s, "Security:</span> none") {
		t.Error("listPets: security: [] should mean no authentication")
	}
	del := docSection(t, page, "op-deleteUser")
	for _, want := range []string{"minLength: 6", "maxLength: 34", "pattern: ^u-[a-z0-9]{4,32}$", "The user id."} {
		if !strings.Contains(del, want) {
			t.Errorf("deleteUser lacks %q", want)
		}
	}
	// Properties keep document order (name before id, unlike sorted keys).
	pet := page[strings.Index(page, `id="schema-Pet"`):]
	if strings.Index(pet, "<code>name</code>") > strings.Index(pet, "<code>id</code>") {
		t.Error("Pet properties not in document order")
	}
	if n := len(page); n > 200_000 {
		t.Errorf("page is %d bytes", n)
	}
	t.Logf("sample page: %d bytes", len(page))
}

func TestRenderDocsEscapes(t *testing.T) {
	page := docRenderSample(t)
	if strings.Contains(page, "<script") {
		t.Fatal("page contains a script element")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co.") {
		t.Error("description not escaped as text")
	}
}

func TestDocsStyleHash(t *testing.T) {
	page := docRenderSample(t)
	if strings.Count(page, "<style") != 1 {
		t.Fatal("want exactly one style element")
	}
	start := strings.Index(page, "<style>") + len("<style>")
	end := strings.Index(page, "</style>")
	sum := sha256.Sum256([]byte(page[start:end]))
	want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if got := docsStyleHash(); got != want {
		t.Errorf("docsStyleHash() = %s, style element hashes to %s", got, want)
	}
	if strings.Contains(page, " style=") {
		t.Error("style attributes are not allowed by the CSP hash")
	}
}

func TestRenderDocsUnresolvableRef(t *testing.T) {
	spec := strings.Replace(docSampleSpec, `"#/components/schemas/Error"`, `"#/components/schemas/Missing"`, 1)
	_, err := renderDocs([]byte(spec))
	if err == nil || !strings.Contains(err.Error(), "#/components/schemas/Missing") {
		t.Fatalf("err = %v, want one naming #/components/schemas/Missing", err)
	}
	spec = strings.Replace(docSampleSpec, `"#/components/parameters/PetId"`, `"other.json#/PetId"`, 1)
	if _, err := renderDocs([]byte(spec)); err == nil || !strings.Contains(err.Error(), "other.json#/PetId") {
		t.Fatalf("err = %v, want one naming other.json#/PetId", err)
	}
}

func TestRenderDocsRecursiveSchema(t *testing.T) {
	spec := `{"openapi":"3.1.0","info":{"title":"R","version":"1"},
	  "paths":{"/n":{"get":{"operationId":"n","responses":{"200":{"description":"ok",
	    "content":{"application/json":{"schema":{"$ref":"#/components/schemas/Node"}}}}}}}},
	  "components":{"schemas":{
	    "Node":{"type":"object","properties":{"self":{"$ref":"#/components/schemas/Node"},
	      "loop":{"$ref":"#/components/schemas/Node/properties/loop"},
	      "kids":{"type":"array","items":{"$ref":"#/components/schemas/Node"}}}},
	    "Alias":{"$ref":"#/components/schemas/Alias"}}}}`
	out, err := renderDocs([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `(recursive)`) || !strings.Contains(string(out), `id="schema-Node"`) {
		t.Error("recursive schema not rendered as expected")
	}
}

func TestRenderDocsDeterministic(t *testing.T) {
	first := docRenderSample(t)
	for range 20 {
		if got := docRenderSample(t); got != first {
			t.Fatal("output differs between runs")
		}
	}
}

func TestRenderDocsErrors(t *testing.T) {
	for name, spec := range map[string]string{
		"invalid JSON":   `{"openapi": "3.1.0", "paths": {`,
		"trailing data":  `{"openapi": "3.1.0", "paths": {}} {}`,
		"not an object":  `[]`,
		"empty":          ``,
		"no openapi":     `{"info": {"title": "x"}, "paths": {}}`,
		"no paths":       `{"openapi": "3.1.0", "info": {"title": "x"}}`,
		"paths not map":  `{"openapi": "3.1.0", "paths": []}`,
		"openapi number": `{"openapi": 3.1, "paths": {}}`,
	} {
		if out, err := renderDocs([]byte(spec)); err == nil {
			t.Errorf("%s: no error (%d bytes)", name, len(out))
		}
	}
	if _, err := renderDocs([]byte(`{"openapi":"3.1.0","paths":{}}`)); err != nil {
		t.Errorf("minimal document: %v", err)
	}
}

func TestDocParagraphs(t *testing.T) {
	got := docParagraphs("one `a` two\r\n\r\n  \nthree ` odd")
	if len(got) != 2 {
		t.Fatalf("got %d paragraphs", len(got))
	}
	if len(got[0]) != 3 || !got[0][1].Code || got[0][1].Text != "a" {
		t.Errorf("first paragraph = %+v", got[0])
	}
	if len(got[1]) != 1 || got[1][0].Text != "three ` odd" {
		t.Errorf("second paragraph = %+v", got[1])
	}
	var b bytes.Buffer
	docWriteJSON(&b, docMustDecode(t, `{"z":1,"a":[true,null,"<x>"]}`))
	if b.String() != `{"z":1,"a":[true,null,"<x>"]}` {
		t.Errorf("round trip = %s", b.String())
	}
}

func docMustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := docDecode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
