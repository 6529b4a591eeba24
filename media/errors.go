package media

import (
	"errors"
	"fmt"
	"net/http"
)

// RequestError is a request the caller has to fix. Status is the HTTP
// status the API answers with: 400 (malformed), 413 (too large) or 415
// (content type not allowed).
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return "media: " + e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound means no object exists under the key. Exists returns it for an
// image the caller has not uploaded (the API answers 422 on a post naming
// it); the origin answers 404.
var ErrNotFound = errors.New("media: image not found")

// ErrNotImage means an upload is not an image the origin will serve: not
// one of the allowed types, another type than the one declared at upload,
// over the pixel limit, or too costly to decode (Uploads.Exists). The API
// answers 422 on a post naming it.
var ErrNotImage = errors.New("media: not an image that can be posted")
