package media

import (
	"crypto/rand"
	"regexp"
)

// segmentRE is what a user id or an image id may be: safe unescaped in an S3
// key, a URL path, a POST policy's JSON and a file name.
var segmentRE = regexp.MustCompile(`^[A-Za-z0-9._~@+-]{1,128}$`)

func validSegment(s string) bool {
	return s != "." && s != ".." && segmentRE.MatchString(s)
}

// NewImageID returns a random, URL-safe image id: 128 bits as 26 base32
// characters (crypto/rand.Text).
func NewImageID() string { return rand.Text() }

// objectKey returns the storage key <user_id>/<image_id>, or false when
// either id is not a valid segment.
func objectKey(userID, imageID string) (string, bool) {
	if !validSegment(userID) || !validSegment(imageID) {
		return "", false
	}
	return userID + "/" + imageID, true
}
