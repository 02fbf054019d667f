package llm

import (
	"fmt"
	"strings"
	"unicode"
)

// IsProse says whether s reads as sentences in one language, and if not,
// why: a model that emits random tokens (a broken, truncated or
// random-weight model) still fills the answer's JSON schema, and its text
// must not become the report's root cause. The test is on the text's shape,
// not its language: words made of letters of one script (identifiers such
// as demo/api, 10.96.0.1:5432 or CrashLoopBackOff count as words), no
// control, private-use or replacement characters, no tokenizer markers.
func IsProse(s string) (bool, string) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "<unk>") || strings.Contains(s, "<0x") || strings.Contains(s, "<|") {
		return false, "tokenizer markers"
	}
	scripts := map[string]int{}
	letters := 0
	for _, r := range s {
		switch {
		case r == unicode.ReplacementChar, unicode.Is(unicode.Co, r), unicode.IsControl(r) && r != '\n' && r != '\t':
			return false, fmt.Sprintf("character %U", r)
		case unicode.IsLetter(r):
			letters++
			scripts[script(r)]++
		}
	}
	top := 0
	for _, n := range scripts {
		top = max(top, n)
	}
	if letters == 0 || float64(top) < 0.9*float64(letters) {
		return false, fmt.Sprintf("letters from %d scripts", len(scripts))
	}
	if top == scripts["CJK"] || top == scripts["Thai"] {
		// Written without spaces between words: letters, not tokens, count.
		if letters < 6 {
			return false, fmt.Sprintf("%d letters", letters)
		}
		return true, ""
	}
	words, wordlike := 0, 0
	for _, tok := range strings.Fields(s) {
		words++
		if isWord(tok) {
			wordlike++
		}
	}
	if words < 3 {
		return false, fmt.Sprintf("%d word(s)", words)
	}
	if float64(wordlike) < 0.8*float64(words) {
		return false, fmt.Sprintf("%d of %d tokens are words", wordlike, words)
	}
	return true, ""
}

// isWord: a token of letters and digits, with the joiners identifiers and
// numbers use inside it and sentence punctuation around it.
func isWord(tok string) bool {
	tok = strings.Trim(tok, `.,;:!?()[]{}"'«»“”‘’—–-`+"`")
	if tok == "" {
		return false
	}
	hasLetterOrDigit := false
	for _, r := range tok {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			hasLetterOrDigit = true
		case strings.ContainsRune("-_./:=%+'’@#", r):
		default:
			return false
		}
	}
	return hasLetterOrDigit
}

// script groups a letter by writing system; Chinese and Japanese characters
// count as one, since Japanese prose mixes them.
func script(r rune) string {
	for _, s := range []struct {
		name string
		t    *unicode.RangeTable
	}{{"Latin", unicode.Latin}, {"Cyrillic", unicode.Cyrillic}, {"Greek", unicode.Greek},
		{"CJK", unicode.Han}, {"CJK", unicode.Hiragana}, {"CJK", unicode.Katakana},
		{"Hangul", unicode.Hangul}, {"Arabic", unicode.Arabic}, {"Hebrew", unicode.Hebrew},
		{"Devanagari", unicode.Devanagari}, {"Thai", unicode.Thai}} {
		if unicode.Is(s.t, r) {
			return s.name
		}
	}
	return "other"
}
