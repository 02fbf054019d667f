package redact

import "testing"

func TestRedactAssignments(t *testing.T) {
	for in, want := range map[string]string{
		"DB_PASSWORD=hunter2-x":                 "DB_PASSWORD=[REDACTED:assignment]",
		`{"token": "tok_9f8e7d", "user":"bob"}`: `{"token": "[REDACTED:assignment]", "user":"bob"}`,
		"client-secret : abcdef; next":          "client-secret : [REDACTED:assignment]; next",
		"auth: ok":                              "auth: ok", // too short to be a secret
		"tokens are refreshed every 5m":         "tokens are refreshed every 5m",
		"x.auth=abc&y=1":                        "x.auth=[REDACTED:assignment]&y=1",
		// a termination message is several lines: a value ends with its line
		"DB_PASSWORD=hunter2\nFATAL: no db": "DB_PASSWORD=[REDACTED:assignment]\nFATAL: no db",
	} {
		if got, _ := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
