package history_test

import (
	"errors"
	"fmt"

	"github.com/shoal-db/shoal/internal/clustertest/history"
)

// Example records two clients, then checks the history: the final state
// lost the acknowledged write "v2".
func Example() {
	r := history.NewRecorder()
	w := r.Invoke(0, history.KindPut, "k", "v1")
	w.OK("")
	w = r.Invoke(1, history.KindPut, "k", "v2")
	w.OK("")
	g := r.Invoke(0, history.KindGet, "k", "")
	g.OK("v2")
	u := r.Invoke(1, history.KindPut, "k", "v3")
	u.Info(errors.New("timeout")) // may or may not have been applied

	h := r.History()
	ok, _, err := history.CheckLinearizable(h, history.KV(), history.CheckOptions{})
	fmt.Println("linearizable:", ok, err)
	fmt.Println(history.CheckNoLostWrites(h, map[string]string{"k": "v3"}))
	fmt.Println(history.CheckNoLostWrites(h, map[string]string{"k": "v1"}) != nil)
	// Output:
	// linearizable: true <nil>
	// <nil>
	// true
}
