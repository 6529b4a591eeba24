package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// decodeStrict decodes the JSON object body into the struct *v, refusing
// what encoding/json lets through: a key that is not exactly one of the
// struct's json names (encoding/json matches names case-insensitively, so
// {"Caption": …} and {"caption": …} in one body would both land in one
// field), a key given twice (the last one would win, silently), and
// anything after the object. Its errors are *bodyError, whose messages
// name JSON types and fields, never Go types.
func decodeStrict(body []byte, v any) error {
	names := fieldNames(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &bodyError{"the body must be a JSON object"}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err, dec)
		}
		key := tok.(string) // inside an object, json.Decoder yields keys as strings
		if !names[key] {
			return &bodyError{fmt.Sprintf("unknown field %q (fields: %s)", key, strings.Join(sortedNames(names), ", "))}
		}
		if seen[key] {
			return &bodyError{fmt.Sprintf("field %q given twice", key)}
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return syntaxError(err, dec)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntaxError(err, dec)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bodyError{"trailing data after the JSON object"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &bodyError{fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonType(te.Type), te.Value)}
		}
		return &bodyError{"malformed JSON"}
	}
	return nil
}

// bodyError is a request body the client must fix (400).
type bodyError struct{ msg string }

func (e *bodyError) Error() string { return e.msg }

func syntaxError(err error, dec *json.Decoder) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &bodyError{fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if dec.InputOffset() == 0 {
			return &bodyError{"the body is empty: want a JSON object"}
		}
		return &bodyError{fmt.Sprintf("malformed JSON: the body ends at byte %d, inside the object", dec.InputOffset())}
	}
	return &bodyError{"malformed JSON"}
}

// jsonType names what a Go type holds in JSON terms.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

var namesCache sync.Map // reflect.Type -> map[string]bool

// fieldNames returns the json names of struct type t's fields.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := namesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	namesCache.Store(t, m)
	return m
}

func sortedNames(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// wholeNumber is an integer field of a body, which JSON Schema (and so the
// OpenAPI document, and the clients generated from it) takes to be any
// number with no fraction: 524288, 524288.0 and 5.24288e5 alike. An
// int64 field would refuse the last two.
type wholeNumber int64

// maxNumberBytes bounds the number's text: big.Float parses a 60 KB
// exponent as readily as a short one, but no size needs more than this.
const maxNumberBytes = 64

func (n *wholeNumber) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		// As encoding/json does for an int64: null leaves it as it is.
		return nil
	}
	refuse := &json.UnmarshalTypeError{Value: "number " + string(b), Type: reflect.TypeFor[int64]()}
	if len(b) > maxNumberBytes || len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		if len(b) > maxNumberBytes {
			refuse.Value = fmt.Sprintf("a number of %d characters", len(b))
		} else {
			refuse.Value = jsonKind(b)
		}
		return refuse
	}
	f, _, err := big.ParseFloat(string(b), 10, 128, big.ToNearestEven)
	// Inexact: 1.000…0001 rounded to 1 at 128 bits is not a whole number.
	if err != nil || f.Acc() != big.Exact || !f.IsInt() {
		return refuse
	}
	i, acc := f.Int64()
	if acc != big.Exact || i == math.MinInt64 {
		return refuse
	}
	*n = wholeNumber(i)
	return nil
}

// jsonKind names the JSON value b starts, as UnmarshalTypeError does.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '"':
		return "string"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	}
	return "bool"
}
