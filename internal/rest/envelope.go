package rest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/api"
)

// statusOfKind is the one table that maps an error Kind to an HTTP status,
// after Qdrant's `impl ResponseError for HttpError` (src/actix/helpers.rs).
func statusOfKind(k api.Kind) int {
	switch k {
	case api.KindBadInput, api.KindBadRequest, api.KindChecksumMismatch:
		return http.StatusBadRequest // 400
	case api.KindUnauthorized:
		return http.StatusUnauthorized // 401
	case api.KindForbidden:
		return http.StatusForbidden // 403
	case api.KindNotFound:
		return http.StatusNotFound // 404
	case api.KindStandalone:
		return http.StatusMethodNotAllowed // 405
	case api.KindTimeout:
		return http.StatusRequestTimeout // 408
	case api.KindAlreadyExists:
		return http.StatusConflict // 409
	case api.KindTooLarge:
		return http.StatusRequestEntityTooLarge // 413
	case api.KindValidation:
		return http.StatusUnprocessableEntity // 422
	case api.KindRateLimited:
		return http.StatusTooManyRequests // 429
	case api.KindUnavailable:
		return http.StatusServiceUnavailable // 503
	case api.KindInsufficientStorage:
		return http.StatusInsufficientStorage // 507
	case api.KindCanceled:
		return statusClientClosed // 499
	default: // api.KindInternal and kinds added later
		return http.StatusInternalServerError // 500
	}
}

// StatusOf returns the HTTP status for err: the status of its api.Kind,
// with bare context errors mapped by api.ContextError first.
func StatusOf(err error) int {
	return statusOfKind(api.KindOf(api.ContextError(err)))
}

// bufferPool recycles response buffers; buffers above 4 MiB are dropped so
// one huge response does not pin its memory.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) get() *bytes.Buffer {
	if b, ok := bp.p.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (bp *bufferPool) put(b *bytes.Buffer) {
	if b.Cap() <= 4<<20 {
		b.Reset()
		bp.p.Put(b)
	}
}

// writeResult writes the success envelope
// {"result":…,"status":"ok","time":<seconds>}, gzipped when the answer is
// large enough and the client accepts gzip. An accepted result (an
// operation started in the background) is answered 202
// {"status":"accepted","time":…}, without a result, as Qdrant answers.
func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, start time.Time, result any) error {
	buf := h.bufs.get()
	defer h.bufs.put(buf)
	code := http.StatusOK
	enc := newEncoder(buf)
	if _, ok := result.(accepted); ok {
		code = http.StatusAccepted
		buf.WriteString(`{"status":"accepted","time":`)
	} else {
		buf.WriteString(`{"result":`)
		if err := enc.encodeResult(result); err != nil {
			return fmt.Errorf("cannot encode response: %w", err)
		}
		buf.WriteString(`,"status":"ok","time":`)
	}
	buf.Write(strconv.AppendFloat(buf.AvailableBuffer(), time.Since(start).Seconds(), 'g', -1, 64))
	buf.WriteByte('}')
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	body := buf.Bytes()
	if h.compressAt > 0 {
		hd.Add("Vary", "Accept-Encoding")
		if len(body) >= h.compressAt && acceptsGzip(r) {
			zbuf := h.bufs.get()
			defer h.bufs.put(zbuf)
			if err := h.gzip(zbuf, body, enc.vecBytes*2 > len(body)); err != nil {
				return err
			}
			body = zbuf.Bytes()
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, err := w.Write(body)
	return err
}

// gzip compresses src into dst with a pooled writer. Answers made mostly
// of vector text (mostly is vectorHeavy) are compressed with Huffman coding
// only: decimal digits gain nothing from LZ77 matching, which costs four
// times the CPU for the same ratio (about 2.2 on 768-d vectors). Other
// answers, with their repeated keys, use BestSpeed.
func (h *Handler) gzip(dst *bytes.Buffer, src []byte, vectorHeavy bool) error {
	pool, level := &h.gzips, gzip.BestSpeed
	if vectorHeavy {
		pool, level = &h.huffs, gzip.HuffmanOnly
	}
	zw, _ := pool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(dst, level); err != nil {
			return fmt.Errorf("cannot compress response: %w", err)
		}
	} else {
		zw.Reset(dst)
	}
	defer pool.Put(zw)
	if _, err := zw.Write(src); err != nil {
		return fmt.Errorf("cannot compress response: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("cannot compress response: %w", err)
	}
	return nil
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip
// (listed, or "*", without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				return false
			}
			return true
		}
	}
	return false
}

// writeError writes Qdrant's ErrorResponse {"status":{"error":…},"time":…,
// "result":null} with the status of err's Kind, and returns that status.
func writeError(w http.ResponseWriter, start time.Time, err error) int {
	err = api.ContextError(err)
	status := StatusOf(err)
	if sec := api.RetryAfterOf(err); sec > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(sec))
	}
	writeErrorStatus(w, start, status, api.Message(err))
	return status
}

// writeErrorStatus writes the error envelope with an explicit status.
func writeErrorStatus(w http.ResponseWriter, start time.Time, status int, msg string) {
	body := struct {
		Status struct {
			Error string `json:"error"`
		} `json:"status"`
		Time   float64 `json:"time"`
		Result any     `json:"result"`
	}{Time: time.Since(start).Seconds()}
	body.Status.Error = msg
	b, _ := jsonMarshal(body) // cannot fail: strings and a float
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errTooLarge is the 413 error for a body above the limit, in actix's words.
func errTooLarge(size, limit int64) error {
	if size >= 0 {
		return &api.Error{Kind: api.KindTooLarge, Message: fmt.Sprintf("JSON payload (%d bytes) is larger than allowed (limit: %d bytes).", size, limit)}
	}
	return &api.Error{Kind: api.KindTooLarge, Message: fmt.Sprintf("JSON payload has exceeded limit (%d bytes).", limit)}
}

// readBody reads the request body, refusing more than limit bytes without
// reading them: a declared Content-Length above the limit is refused at
// once, and an undeclared length is cut off at limit+1 bytes. A body with
// Content-Encoding gzip is decompressed, and the limit applies to both the
// compressed and the decompressed size.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge(r.ContentLength, limit)
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, api.ErrBadRequest("cannot decompress request body: %v", err)
		}
		defer zr.Close()
		body = &limitedReader{r: zr, n: limit}
	default:
		return nil, api.ErrBadRequest("unsupported Content-Encoding %q: use gzip or none", enc)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errInflatedTooLarge) {
			return nil, errTooLarge(-1, limit)
		}
		return nil, api.ErrBadRequest("cannot read request body: %v", err)
	}
	return buf.Bytes(), nil
}

var errInflatedTooLarge = errors.New("decompressed body is too large")

// limitedReader fails with errInflatedTooLarge after n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errInflatedTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errInflatedTooLarge
	}
	return n, err
}

// decodeJSON decodes a request body into v with Qdrant's error texts:
// structural errors of package api pass through as they are; syntax and
// type errors read "Format error in JSON body: <detail> at line L column C".
// A body with a member that v's type does not know is refused
// (api.CheckFields) rather than half applied.
func decodeJSON(body []byte, v any) error {
	if err := decodeJSONLoose(body, v); err != nil {
		return err
	}
	return api.CheckFields(body, v)
}

// decodeJSONLoose is decodeJSON without the check for unknown members.
func decodeJSONLoose(body []byte, v any) error {
	// Bodies of the common vector-carrying shapes skip encoding/json's scans
	// (anything else, and every error, takes the path below).
	if api.DecodeFast(body, v) {
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return formatError("EOF while parsing a value", body, int64(len(body)))
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		detail := se.Error()
		if detail == "unexpected end of JSON input" {
			detail = "EOF while parsing a value"
		}
		return formatError(detail, body, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if wide, ok := saturateCount(body, te); ok {
			return decodeJSONLoose(wide, v)
		}
		detail := fmt.Sprintf("invalid type: %s, expected %s", te.Value, te.Type)
		if te.Field != "" {
			detail += fmt.Sprintf(" for field `%s`", te.Field)
		}
		return formatError(detail, body, te.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return formatError("EOF while parsing a value", body, int64(len(body)))
	}
	return &api.Error{Kind: api.KindBadInput, Message: "Format error in JSON body: " + err.Error(), Err: err}
}

// saturateCount handles Qdrant's u64 limits and offsets: a "limit" or
// "offset" member holding a non-negative integer too large for an int
// (18446744073709551615 in Qdrant's own suite) fails to decode; it
// returns a copy of body with that number replaced by math.MaxInt32, the
// value the gRPC adapter saturates them at (no query returns more; the
// service clamps limits to the points a collection holds). Anything else
// stays an error.
func saturateCount(body []byte, te *json.UnmarshalTypeError) ([]byte, bool) {
	field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
	digits, ok := strings.CutPrefix(te.Value, "number ")
	if !ok || (field != "limit" && field != "offset") || te.Type == nil || te.Type.Kind() != reflect.Int ||
		digits == "" || strings.Trim(digits, "0123456789") != "" {
		return nil, false
	}
	// The error's offset may be relative to a member a custom decoder
	// passed on (prefetch): find the number as the value of that key.
	at := countLiteral(body, field, digits)
	if at < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(body))
	out = append(out, body[:at]...)
	out = strconv.AppendInt(out, math.MaxInt32, 10)
	return append(out, body[at+len(digits):]...), true
}

// countLiteral returns where the integer literal digits stands as the
// value of a member named field ("field": digits) in body, or -1.
func countLiteral(body []byte, field, digits string) int {
	key := `"` + field + `"`
	for from := 0; ; {
		i := bytes.Index(body[from:], []byte(digits))
		if i < 0 {
			return -1
		}
		at := from + i
		from = at + len(digits)
		if end := at + len(digits); end < len(body) && strings.IndexByte("0123456789.eE", body[end]) >= 0 {
			continue
		}
		j := at
		for j > 0 && strings.IndexByte(" \t\r\n", body[j-1]) >= 0 {
			j--
		}
		if j == 0 || body[j-1] != ':' {
			continue
		}
		j--
		for j > 0 && strings.IndexByte(" \t\r\n", body[j-1]) >= 0 {
			j--
		}
		if j >= len(key) && string(body[j-len(key):j]) == key && (j == len(key) || body[j-len(key)-1] != '\\') {
			return at
		}
	}
}

func formatError(detail string, body []byte, offset int64) error {
	line, col := 1, 0
	for i := int64(0); i < offset && i < int64(len(body)); i++ {
		if body[i] == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
	}
	return &api.Error{Kind: api.KindBadInput, Message: fmt.Sprintf("Format error in JSON body: %s at line %d column %d", detail, line, col)}
}

// jsonMarshal is json.Marshal without HTML escaping.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot encode response: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
