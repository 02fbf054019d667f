// Package llm asks the local model (Ollama) to explain findings. The answer
// is schema-constrained JSON (Ollama's `format`), citing evidence ids; calls
// retry with jittered exponential backoff on 429/5xx/timeouts and sit behind
// a circuit breaker, so a sick model degrades the agent to rules only.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"lab.dev/lab/core/telemetry"
)

// TraceHeader carries the report's trace id on every model request.
const TraceHeader = "X-Lab-Trace-Id"

// Answer is the model's structured explanation.
type Answer struct {
	Summary     string      `json:"summary"`
	RootCause   string      `json:"root_cause"`
	Evidence    []string    `json:"evidence"`
	Confidence  string      `json:"confidence"`
	Remediation Remediation `json:"remediation"`
	Runbook     []string    `json:"runbook"`
}

// Remediation is the action the model proposes (from the whitelist, or none).
type Remediation struct {
	Action   string `json:"action"`
	Replicas int    `json:"replicas,omitempty"`
}

// Request is one explanation to ask for.
type Request struct {
	TraceID   string
	Messages  []api.Message
	Evidence  []string // ids the model may cite
	Whitelist []string // remediation actions it may propose
	OnToken   func(string)
	// NumCtx and Predict override num_ctx and num_predict (0: the client's
	// options); Explain sets num_ctx from the prompt and the model's window.
	NumCtx  int
	Predict int
}

// Meta says how the call went.
type Meta struct {
	Model          string        `json:"model"`
	Attempts       int           `json:"attempts"`
	Latency        time.Duration `json:"latencyNs"`
	PromptTokens   int           `json:"promptTokens"`
	ResponseTokens int           `json:"responseTokens"`
	NumCtx         int           `json:"numCtx,omitempty"` // the context window the call asked for
	Errors         []string      `json:"errors,omitempty"`
	Breaker        BreakerState  `json:"breaker"`
}

// Client talks to one Ollama model.
type Client struct {
	API     *api.Client
	Model   string
	Timeout time.Duration // per attempt
	Retry   Retry
	Breaker *Breaker
	Options map[string]any
	MaxText int // maxLength of each text field in the schema (default 400 characters)

	windowOnce windowCache
}

// New builds a client for an Ollama base URL; every request carries the trace
// id from its context in TraceHeader.
func New(endpoint, model string, timeout time.Duration, retry Retry, breaker *Breaker) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("agent.llm.endpoint %q: %w", endpoint, err)
	}
	hc := &http.Client{Transport: traceTransport{http.DefaultTransport}}
	return &Client{API: api.NewClient(u, hc), Model: model, Timeout: timeout, Retry: retry, Breaker: breaker,
		Options: map[string]any{"temperature": 0.1, "num_predict": 512}}, nil
}

type traceKey struct{}

type traceTransport struct{ next http.RoundTripper }

func (t traceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if id, ok := r.Context().Value(traceKey{}).(string); ok && id != "" {
		r = r.Clone(r.Context())
		r.Header.Set(TraceHeader, id)
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		resp.Body = &boundedBody{rc: resp.Body, left: MaxResponseBytes}
	}
	return resp, err
}

// MaxResponseBytes bounds every answer read from the model server (chat,
// show, embed): a broken or hostile server cannot make the agent buffer
// without end. An answer of a few kB is what a diagnosis asks for.
const MaxResponseBytes = 8 << 20

// ErrResponseTooLarge is returned when the model server's answer passes
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("the model server's answer is larger than lab reads (8 MiB)")

type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 { // an answer of exactly the bound ends here; one byte more is too large
		if n, err := b.rc.Read(make([]byte, 1)); n == 0 && err != nil {
			return 0, err
		}
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// Schema is the JSON schema of Answer, with the evidence ids and the
// whitelisted actions as enums so constrained decoding cannot invent them.
func Schema(evidence, whitelist []string, maxText int) json.RawMessage {
	if maxText <= 0 {
		maxText = 400
	}
	text := map[string]any{"type": "string", "minLength": 1, "maxLength": maxText}
	actions := append([]string{"none"}, whitelist...)
	ev := map[string]any{"type": "string"}
	if len(evidence) > 0 {
		ev["enum"] = evidence
	}
	s := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"summary":    text,
			"root_cause": text,
			"evidence":   map[string]any{"type": "array", "items": ev, "minItems": 1, "maxItems": 6},
			"confidence": map[string]any{"type": "string", "enum": []string{"low", "medium", "high"}},
			"remediation": map[string]any{"type": "object", "properties": map[string]any{
				"action":   map[string]any{"type": "string", "enum": actions},
				"replicas": map[string]any{"type": "integer", "minimum": 0, "maximum": 100},
			}, "required": []string{"action"}},
			"runbook": map[string]any{"type": "array", "items": text, "maxItems": 6},
		},
		"required": []string{"summary", "root_cause", "evidence", "confidence", "remediation", "runbook"},
	}
	b, _ := json.Marshal(s)
	return b
}

// Embed returns the model's embeddings of texts (/api/embed), for runbook
// retrieval.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.Breaker != nil && c.Breaker.State() == Open {
		return nil, ErrBreakerOpen
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	ctx, span := telemetry.Start(ctx, "", "embeddings "+c.Model, attribute.String("gen_ai.operation.name", "embeddings"),
		attribute.String("gen_ai.system", "ollama"), attribute.String("gen_ai.request.model", c.Model), attribute.Int("lab.llm.inputs", len(texts)))
	r, err := c.API.Embed(ctx, &api.EmbedRequest{Model: c.Model, Input: texts})
	telemetry.End(span, err)
	if err != nil {
		return nil, fmt.Errorf("embeddings from %s: %w", c.Model, err)
	}
	return r.Embeddings, nil
}

// ErrBadAnswer means the model answered, but not with usable JSON. Asking
// again the same way gets the same kind of answer: it is not retried.
var ErrBadAnswer = errors.New("model answer is not valid JSON for the schema")

// ErrAnswerCut means the answer stopped at num_predict before its JSON was
// complete: retried once, with twice the room, not with backoff.
var ErrAnswerCut = fmt.Errorf("%w: the answer hit num_predict", ErrBadAnswer)

// Explain asks the model, retrying retryable failures, through the breaker.
func (c *Client) Explain(ctx context.Context, req Request) (_ Answer, meta Meta, err error) {
	meta = Meta{Model: c.Model}
	start := time.Now()
	ctx, span := telemetry.Start(ctx, req.TraceID, "explain", attribute.String("gen_ai.request.model", c.Model))
	defer func() {
		meta.Latency = time.Since(start)
		span.SetAttributes(attribute.Int("lab.llm.attempts", meta.Attempts), attribute.String("lab.llm.breaker", string(meta.Breaker)),
			attribute.Int("gen_ai.usage.input_tokens", meta.PromptTokens), attribute.Int("gen_ai.usage.output_tokens", meta.ResponseTokens))
		telemetry.End(span, err)
	}()
	ctx = context.WithValue(ctx, traceKey{}, req.TraceID)
	attempts := max(c.Retry.Attempts, 1)
	var lastErr error
	grown := false
	for n := 0; n < attempts; n++ {
		if n > 0 && !errors.Is(lastErr, ErrAnswerCut) {
			d := c.Retry.Delay(n - 1)
			span.AddEvent("backoff", trace.WithAttributes(attribute.Int64("lab.llm.backoff_ms", d.Milliseconds())))
			if err := c.Retry.sleep(ctx, d); err != nil {
				return Answer{}, meta, err
			}
		}
		if err := c.Breaker.Allow(); err != nil {
			meta.Breaker = c.Breaker.State()
			return Answer{}, meta, err
		}
		meta.Attempts++
		actx, aspan := telemetry.Start(ctx, "", "chat "+c.Model, attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.system", "ollama"), attribute.String("gen_ai.request.model", c.Model), attribute.Int("lab.llm.attempt", meta.Attempts))
		ans, err := c.once(actx, req, &meta)
		aspan.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", meta.PromptTokens), attribute.Int("gen_ai.usage.output_tokens", meta.ResponseTokens))
		telemetry.End(aspan, err)
		c.Breaker.Record(err == nil)
		meta.Breaker = c.Breaker.State()
		if err == nil {
			return ans, meta, nil
		}
		lastErr = err
		meta.Errors = append(meta.Errors, err.Error())
		if errors.Is(err, ErrAnswerCut) && !grown && ctx.Err() == nil {
			grown = true // once, with twice the room for the answer
			req.Predict = 2 * max(req.Predict, c.predict())
			continue
		}
		if !Retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return Answer{}, meta, lastErr
}

// maxAnswer bounds the streamed answer's text (its JSON is a few kB).
const maxAnswer = 1 << 20

func (c *Client) once(ctx context.Context, req Request, meta *Meta) (Answer, error) {
	actx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	stream := req.OnToken != nil
	var content strings.Builder
	var final api.ChatResponse
	opts := make(map[string]any, len(c.Options)+2)
	for k, v := range c.Options {
		opts[k] = v
	}
	if req.Predict > 0 {
		opts["num_predict"] = req.Predict
	}
	if req.NumCtx > 0 {
		opts["num_ctx"] = req.NumCtx
		meta.NumCtx = req.NumCtx
	}
	err := c.API.Chat(actx, &api.ChatRequest{
		Model: c.Model, Messages: req.Messages, Stream: &stream,
		Format: Schema(req.Evidence, req.Whitelist, c.MaxText), Options: opts,
	}, func(r api.ChatResponse) error {
		if content.Len()+len(r.Message.Content) > maxAnswer {
			return fmt.Errorf("the model's answer passed %d bytes: %w", maxAnswer, ErrResponseTooLarge)
		}
		content.WriteString(r.Message.Content)
		if req.OnToken != nil && r.Message.Content != "" {
			req.OnToken(r.Message.Content)
		}
		if r.Done {
			final = r
		}
		return nil
	})
	if err != nil {
		if actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return Answer{}, fmt.Errorf("model call timed out after %s: %w", c.Timeout, context.DeadlineExceeded)
		}
		return Answer{}, err
	}
	if !final.Done {
		return Answer{}, fmt.Errorf("model stream ended before done: %w", errors.New("unexpected EOF"))
	}
	meta.PromptTokens, meta.ResponseTokens = final.PromptEvalCount, final.EvalCount
	var a Answer
	if err := json.Unmarshal([]byte(content.String()), &a); err != nil {
		if final.DoneReason == "length" {
			return Answer{}, fmt.Errorf("%w (%d tokens): %v", ErrAnswerCut, final.EvalCount, err)
		}
		return Answer{}, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	return a, nil
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Validate drops what the answer may not claim: evidence ids that are not in
// known, a root cause citing no known evidence, an answer that is not prose
// (with its action), runbook steps that are not prose, a remediation outside
// the whitelist. It returns the cleaned answer and what was dropped, for the
// report.
func Validate(a Answer, known, whitelist []string) (Answer, []string) {
	var dropped []string
	ok := map[string]bool{}
	for _, id := range known {
		ok[id] = true
	}
	var cited []string
	for _, id := range a.Evidence {
		base, _, _ := strings.Cut(id, "#")
		if ok[id] || ok[base] {
			cited = append(cited, id)
		} else {
			dropped = append(dropped, fmt.Sprintf("evidence id %q is not in the evidence", id))
		}
	}
	a.Evidence = cited
	if len(cited) == 0 && a.RootCause != "" {
		dropped = append(dropped, fmt.Sprintf("root cause %q cites no known evidence", a.RootCause))
		a.RootCause, a.Summary = "", ""
	}
	if a.RootCause != "" {
		if ok, why := IsProse(a.Summary + " " + a.RootCause); !ok {
			// Random tokens that fit the schema: nothing of it is kept, and
			// above all not the action it "proposes".
			dropped = append(dropped, fmt.Sprintf("the answer is not prose (%s): %q", why, clip(a.RootCause, 80)))
			a.RootCause, a.Summary, a.Runbook, a.Evidence = "", "", nil, nil
			a.Remediation = Remediation{Action: "none"}
		}
	}
	var steps []string
	for _, r := range a.Runbook {
		if ok, _ := IsProse(r); ok {
			steps = append(steps, r)
		} else {
			dropped = append(dropped, fmt.Sprintf("runbook step is not prose: %q", clip(r, 80)))
		}
	}
	a.Runbook = steps
	act := a.Remediation.Action
	allowed := act == "" || act == "none"
	for _, w := range whitelist {
		allowed = allowed || act == w
	}
	if !allowed {
		dropped = append(dropped, fmt.Sprintf("remediation %q is not whitelisted", act))
		a.Remediation = Remediation{Action: "none"}
	}
	switch a.Confidence {
	case "low", "medium", "high":
	default:
		a.Confidence = "low"
	}
	return a, dropped
}
