package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPI is Qdrant's spec (testdata/qdrant-openapi.json, v1.19) with a
// router over its paths, loaded once per test binary.
type openAPI struct {
	doc    *openapi3.T
	router routers.Router
}

var loadSpec = sync.OnceValues(func() (*openAPI, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("testdata/qdrant-openapi.json")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, err
	}
	tightenNullable(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &openAPI{doc: doc, router: router}, nil
})

func spec(t testing.TB) *openAPI {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("cannot load OpenAPI spec: %v", err)
	}
	return s
}

// tightenNullable rewrites the spec's pattern for optional values,
// anyOf: [X, {nullable: true}], into a nullable anyOf: [X]. As written, the
// bare {nullable: true} alternative has no type and so accepts any value,
// which would leave every such field (payload, vector, shard_key, ...)
// unchecked.
func tightenNullable(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		sc := ref.Value
		seen[sc] = true
		for _, list := range []*openapi3.SchemaRefs{&sc.AnyOf, &sc.OneOf} {
			kept := (*list)[:0]
			for _, alt := range *list {
				if alt.Ref == "" && alt.Value != nil && isBareNullable(alt.Value) {
					sc.Nullable = true
					continue
				}
				kept = append(kept, alt)
			}
			*list = kept
		}
		for _, l := range []openapi3.SchemaRefs{sc.AnyOf, sc.OneOf, sc.AllOf} {
			for _, r := range l {
				walk(r)
			}
		}
		walk(sc.Not)
		walk(sc.Items)
		walk(sc.AdditionalProperties.Schema)
		for _, p := range sc.Properties {
			walk(p)
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

func isBareNullable(s *openapi3.Schema) bool {
	b, err := json.Marshal(s)
	return err == nil && string(b) == `{"nullable":true}`
}

// validateResponse checks a response against the operation the spec
// defines for method and path (a concrete path such as
// /collections/c/points/1). It fails the test if the spec has no such
// operation or the body does not match its schema.
func (s *openAPI) validateResponse(t testing.TB, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	if err := s.checkResponse(method, path, status, header, body); err != nil {
		t.Errorf("%s %s: response does not match the spec: %v\nbody: %s", method, path, err, truncate(body, 2000))
	}
}

// checkResponse is validateResponse returning the mismatch.
func (s *openAPI) checkResponse(method, path string, status int, header http.Header, body []byte) error {
	req, err := http.NewRequest(method, "http://localhost:6333"+path, nil)
	if err != nil {
		return err
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no route in the spec: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
		},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// validateRequest checks that a request the tests send is valid by the
// spec (path, query parameters and JSON body), so that the tests speak
// Qdrant's dialect rather than only Shoal's.
func (s *openAPI) validateRequest(t testing.TB, method, pathAndQuery string, body []byte) {
	t.Helper()
	if err := s.checkRequest(method, pathAndQuery, body); err != nil {
		t.Errorf("%s %s: request does not match the spec: %v\nbody: %s", method, pathAndQuery, err, truncate(body, 2000))
	}
}

// checkRequest is validateRequest returning the mismatch.
func (s *openAPI) checkRequest(method, pathAndQuery string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://localhost:6333"+pathAndQuery, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no route in the spec: %w", err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
		},
	}
	return openapi3filter.ValidateRequest(context.Background(), in)
}

// validateSchema checks a JSON value against a named component schema.
func (s *openAPI) validateSchema(t testing.TB, name string, value []byte) {
	t.Helper()
	ref, ok := s.doc.Components.Schemas[name]
	if !ok {
		t.Fatalf("no schema %s in the spec", name)
	}
	var v any
	if err := json.Unmarshal(value, &v); err != nil {
		t.Fatalf("invalid JSON: %v", err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("value does not match schema %s: %v\nvalue: %s", name, err, truncate(value, 2000))
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func TestSpecValidatorCatchesMismatches(t *testing.T) {
	s := spec(t)
	h := http.Header{"Content-Type": []string{"application/json"}}
	good := `{"result":{"id":1,"payload":{"a":1}},"status":"ok","time":0.1}`
	for _, ok := range []string{good, `{"result":{"id":"1d0f4b4e-7c1a-4a5e-9a47-55b4e1b4c2a1","payload":null,"vector":null},"status":"ok","time":0.1}`} {
		if err := s.checkResponse("GET", "/collections/c/points/1", 200, h, []byte(ok)); err != nil {
			t.Fatalf("valid body refused: %v", err)
		}
	}
	for _, bad := range []string{
		`{"result":{"payload":{"a":1}},"status":"ok","time":0.1}`,  // id missing
		`{"result":{"id":-1},"status":"ok","time":0.1}`,            // negative id
		`{"result":{"id":1,"payload":5},"status":"ok","time":0.1}`, // payload not an object
		`{"result":{"id":1},"status":"ok","time":"fast"}`,          // time not a number
	} {
		if err := s.checkResponse("GET", "/collections/c/points/1", 200, h, []byte(bad)); err == nil {
			t.Errorf("invalid body accepted: %s", bad)
		}
	}
	if err := s.checkResponse("GET", "/nonexistent", 200, h, []byte(good)); err == nil {
		t.Errorf("unknown path accepted")
	}
	if err := s.checkRequest("POST", "/collections/c/points/query", []byte(`{"query": [0.1, 0.2], "limit": 3}`)); err != nil {
		t.Errorf("valid request refused: %v", err)
	}
	for _, bad := range []struct{ path, body string }{
		{"/collections/c/points/query", `{"query": [0.1], "limit": "three"}`},
		{"/collections/c/points/query?consistency=most", `{"query": [0.1]}`},
		{"/collections/c/points/scroll", `{"limit": -1}`},
	} {
		if err := s.checkRequest("POST", bad.path, []byte(bad.body)); err == nil {
			t.Errorf("invalid request accepted: %s %s", bad.path, bad.body)
		}
	}
}

func TestSpecLoads(t *testing.T) {
	s := spec(t)
	// Every spec operation outside the snapshot and cluster families must
	// have a route in the handler.
	h := New(Options{Service: &faultService{}})
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			p := strings.NewReplacer("{collection_name}", "c", "{id}", "1", "{field_name}", "f", "{vector_name}", "v",
				"{shard_id}", "0", "{snapshot_name}", "s", "{peer_id}", "1").Replace(path)
			req, _ := http.NewRequest(method, p, nil)
			_, pattern := h.mux.Handler(req)
			if pattern == "/" || pattern == "" {
				t.Errorf("%s %s has no route", method, path)
			}
		}
	}
}
