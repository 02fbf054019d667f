package sbom

import (
	"strings"
	"unicode"
)

// DebCompare orders two Debian package versions the way dpkg does
// ([epoch:]upstream[-revision]; letters before non-letters, '~' before
// everything, digits compared as numbers): < 0, 0 or > 0.
func DebCompare(a, b string) int {
	ea, ua, ra := debSplit(a)
	eb, ub, rb := debSplit(b)
	if c := debNum(ea, eb); c != 0 {
		return c
	}
	if c := debPart(ua, ub); c != 0 {
		return c
	}
	return debPart(ra, rb)
}

func debSplit(v string) (epoch, upstream, revision string) {
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && strings.Trim(e, "0123456789") == "" {
		epoch, v = e, rest
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// debOrder is dpkg's weight of one non-digit character.
func debOrder(c byte) int {
	switch {
	case c == '~':
		return -1
	case unicode.IsLetter(rune(c)):
		return int(c)
	case c == 0:
		return 0
	}
	return int(c) + 256
}

func debPart(a, b string) int {
	for a != "" || b != "" {
		// the non-digit prefixes, character by character
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			var ca, cb byte
			if a != "" && !isDigit(a[0]) {
				ca, a = a[0], a[1:]
			}
			if b != "" && !isDigit(b[0]) {
				cb, b = b[0], b[1:]
			}
			if oa, ob := debOrder(ca), debOrder(cb); oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
		}
		// then the digit runs, as numbers
		da, db := digits(a), digits(b)
		a, b = a[len(da):], b[len(db):]
		if c := debNum(da, db); c != 0 {
			return c
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

// debNum compares two digit strings as numbers (of any length).
func debNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
