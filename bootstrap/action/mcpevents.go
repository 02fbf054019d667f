package action

// lab mcp's events and traces: one log event and one root span per tool
// call, the trace id its diagnosis takes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"lab.dev/lab/agent"
	"lab.dev/lab/core/telemetry"
)

type callTraceKey struct{}

// callTrace is the trace id mcpEvents gave the tool call in ctx (a new one
// outside a call): its events, its spans and its report share it.
func callTrace(ctx context.Context) string {
	if id, ok := ctx.Value(callTraceKey{}).(string); ok {
		return id
	}
	return agent.NewTraceID()
}

// mcpEvents logs one event per tool call and resource read the server
// answers — its tool (or URI), namespace and pod, outcome, duration and
// trace id — and one per client that connects. Each tool call is a trace
// (a root span "mcp TOOL" when an exporter is configured); a diagnosis it
// makes is a child of it, under the same id its result gives. Arguments
// other than namespace and pod are not logged.
func mcpEvents(log *slog.Logger) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			var attrs []any
			var span trace.Span
			switch p := req.GetParams().(type) {
			case *mcp.InitializeParams:
				if p.ClientInfo != nil {
					log.Info("client connected", "client", p.ClientInfo.Name, "client_version", p.ClientInfo.Version, "protocol", p.ProtocolVersion)
				}
				return next(ctx, method, req)
			case *mcp.DiscoverParams: // the stateless protocol's (SEP-2575) first request
				c := clientOf(p.Meta)
				log.Info("client connected", "client", c.Name, "client_version", c.Version, "protocol", fmt.Sprint(p.Meta[mcp.MetaKeyProtocolVersion]))
				return next(ctx, method, req)
			case *mcp.CallToolParamsRaw:
				var args struct{ Namespace, Pod string }
				_ = json.Unmarshal(p.Arguments, &args) // the tool's own decoding reports bad input
				id := agent.NewTraceID()
				ctx = context.WithValue(ctx, callTraceKey{}, id)
				ctx, span = telemetry.Start(ctx, id, "mcp "+p.Name, attribute.String("mcp.tool", p.Name))
				defer span.End()
				attrs = []any{"trace_id", id, "tool", p.Name}
				if c := clientOf(p.Meta); c.Name != "" {
					attrs = append(attrs, "client", c.Name)
				}
				if args.Namespace != "" {
					attrs = append(attrs, "namespace", args.Namespace)
				}
				if args.Pod != "" {
					attrs = append(attrs, "pod", args.Pod)
				}
			case *mcp.ReadResourceParams:
				attrs = []any{"uri", p.URI}
			default:
				return next(ctx, method, req) // lists, pings, notifications
			}
			start := time.Now()
			res, err := next(ctx, method, req)
			attrs = append(attrs, "duration_ms", time.Since(start).Milliseconds())
			failed := err
			if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError && err == nil {
				failed = errors.New(toolText(r)) // a tool's error is a result the model reads
			}
			if span != nil {
				telemetry.Record(span, failed)
			}
			if failed != nil {
				log.Warn(method+" failed", append(attrs, "error", failed)...)
			} else {
				log.Info(method, attrs...)
			}
			return res, err
		}
	}
}

// clientOf is the client a request's _meta names (the stateless protocol
// sends it with each request), zero when none.
func clientOf(meta mcp.Meta) mcp.Implementation {
	var c mcp.Implementation
	if v, ok := meta[mcp.MetaKeyClientInfo]; ok {
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &c)
	}
	return c
}

// toolText is the text of a tool result (a failed call's error message).
func toolText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
