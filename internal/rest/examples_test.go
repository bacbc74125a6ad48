package rest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// curlCall is one curl command of docs/rest-examples.md.
type curlCall struct {
	line    int
	method  string
	url     string
	headers [][2]string
	body    string
}

// parseCurlExamples returns the curl commands in the ```bash blocks of a
// Markdown file. Commands continue over lines ending in a backslash and
// quote with '…' or "…" as a shell does.
func parseCurlExamples(r io.Reader) ([]curlCall, error) {
	var calls []curlCall
	sc := bufio.NewScanner(r)
	inBlock, lineNo, start := false, 0, 0
	var cmd strings.Builder
	flush := func() error {
		s := strings.TrimSpace(cmd.String())
		cmd.Reset()
		if s == "" {
			return nil
		}
		c, err := parseCurl(s)
		if err != nil {
			return fmt.Errorf("line %d: %w", start, err)
		}
		c.line = start
		calls = append(calls, c)
		return nil
	}
	inQuote := false
	for sc.Scan() {
		lineNo++
		l := sc.Text()
		if strings.HasPrefix(l, "```") {
			if inBlock {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			inBlock = strings.HasPrefix(l, "```bash") && !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		if cmd.Len() == 0 {
			if strings.TrimSpace(l) == "" {
				continue
			}
			start = lineNo
		}
		if strings.Count(l, "'")%2 == 1 {
			inQuote = !inQuote
		}
		if strings.HasSuffix(l, "\\") && !inQuote {
			cmd.WriteString(strings.TrimSuffix(l, "\\"))
			cmd.WriteString(" ")
			continue
		}
		cmd.WriteString(l)
		if inQuote {
			cmd.WriteString("\n")
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return calls, sc.Err()
}

// shellWords splits s into words with single and double quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func parseCurl(s string) (curlCall, error) {
	w, err := shellWords(s)
	if err != nil {
		return curlCall{}, err
	}
	if len(w) == 0 || w[0] != "curl" {
		return curlCall{}, fmt.Errorf("not a curl command: %q", s)
	}
	var c curlCall
	for i := 1; i < len(w); i++ {
		arg := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("%s needs a value", w[i])
			}
			i++
			return w[i], nil
		}
		switch w[i] {
		case "-X", "--request":
			if c.method, err = arg(); err != nil {
				return c, err
			}
		case "-H", "--header":
			h, err := arg()
			if err != nil {
				return c, err
			}
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return c, fmt.Errorf("bad header %q", h)
			}
			c.headers = append(c.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		case "-d", "--data", "--data-raw", "--data-binary":
			if c.body, err = arg(); err != nil {
				return c, err
			}
		case "-L", "-s", "--silent", "--location":
		default:
			if strings.HasPrefix(w[i], "-") {
				return c, fmt.Errorf("unsupported curl option %s", w[i])
			}
			c.url = w[i]
		}
	}
	if c.method == "" {
		c.method = "GET"
		if c.body != "" {
			c.method = "POST"
		}
	}
	if !strings.HasPrefix(c.url, "http://localhost:6333/") {
		return c, fmt.Errorf("URL %q is not on http://localhost:6333/", c.url)
	}
	return c, nil
}

func TestParseCurl(t *testing.T) {
	in := "text\n```bash\ncurl -X PUT 'http://localhost:6333/a?wait=true' \\\n  -H 'Content-Type: application/json' \\\n  --data-raw '{\n  \"x\": [1, 2]\n}'\ncurl 'http://localhost:6333/b'\n```\n```json\ncurl 'http://localhost:6333/ignored'\n```\n"
	calls, err := parseCurlExamples(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 {
		t.Fatalf("got %d calls: %+v", len(calls), calls)
	}
	if c := calls[0]; c.method != "PUT" || c.url != "http://localhost:6333/a?wait=true" || c.body != "{\n  \"x\": [1, 2]\n}" ||
		len(c.headers) != 1 || c.headers[0] != [2]string{"Content-Type", "application/json"} || c.line != 3 {
		t.Errorf("first call: %+v", c)
	}
	if c := calls[1]; c.method != "GET" || c.url != "http://localhost:6333/b" || c.body != "" {
		t.Errorf("second call: %+v", c)
	}
}

// runCurlExamples runs every curl command of docs/rest-examples.md against
// base in order and requires HTTP 200 from each, with requests and
// responses valid by the spec (the deprecated search route aside).
func runCurlExamples(t *testing.T, base, apiKey string) int {
	f, err := os.Open("../../docs/rest-examples.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	calls, err := parseCurlExamples(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 20 {
		t.Fatalf("only %d curl examples parsed", len(calls))
	}
	sp := spec(t)
	for _, c := range calls {
		pathAndQuery := strings.TrimPrefix(c.url, "http://localhost:6333")
		path, _, _ := strings.Cut(pathAndQuery, "?")
		// The deprecated search route is not in the v1.19 spec.
		inSpec := !strings.HasSuffix(path, "/points/search")
		if inSpec {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			sp.validateRequest(t, c.method, pathAndQuery, body)
		}
		url := base + pathAndQuery
		req, err := http.NewRequest(c.method, url, strings.NewReader(c.body))
		if err != nil {
			t.Fatalf("line %d: %v", c.line, err)
		}
		for _, h := range c.headers {
			req.Header.Set(h[0], h[1])
		}
		if apiKey != "" {
			req.Header.Set("api-key", apiKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("line %d: %v", c.line, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("docs/rest-examples.md line %d: %s %s: %d %s", c.line, c.method, c.url, resp.StatusCode, b)
		} else if inSpec {
			sp.validateResponse(t, c.method, path, resp.StatusCode, resp.Header, b)
		}
	}
	return len(calls)
}
