// Package endpoint holds the one rule for where airlock may send a token or a
// secret: https anywhere, plain http only to this machine (tests, the demo).
package endpoint

import (
	"net"
	"strings"
)

// IsLoopback reports whether host (a URL's Hostname()) is this machine:
// "localhost" in any case, or a loopback IP (127.0.0.0/8, ::1).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
