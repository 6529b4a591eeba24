// Package browser holds the page's end-to-end test: `tagstream run --demo`
// in-process, and Debian's Chromium (services/chromium.sh) driven through
// the DevTools protocol (chromedp) as a reader on a phone would use it.
// Set TAGSTREAM_SCREENSHOTS to a directory to keep the screenshots it
// takes (`make screenshots` writes the README's).
package browser
