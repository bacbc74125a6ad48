package rest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/rest"
	"github.com/shoal-db/shoal/internal/service"
)

// Example serves the REST API over a service with its storage in a
// temporary directory, creates a collection with the full API key and
// lists collections with the read-only key.
func Example() {
	dir, err := os.MkdirTemp("", "shoal-rest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	svc, err := service.New(service.Options{StorageDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	srv := httptest.NewServer(rest.New(rest.Options{
		Service: svc,
		Auth:    auth.New(auth.Options{APIKey: "secret", ReadOnlyAPIKey: "reader"}),
	}))
	defer srv.Close()

	call := func(method, path, key, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var env struct {
			Result json.RawMessage `json:"result"`
			Status any             `json:"status"`
		}
		_ = json.Unmarshal(b, &env)
		fmt.Println(resp.StatusCode, string(env.Result), env.Status)
	}
	call("PUT", "/collections/docs", "secret", `{"vectors": {"size": 4, "distance": "Cosine"}}`)
	call("GET", "/collections", "reader", "")
	call("DELETE", "/collections/docs", "reader", "")
	// Output:
	// 200 true ok
	// 200 {"collections":[{"name":"docs"}]} ok
	// 403 null map[error:Forbidden: manage access to collection docs is required]
}
