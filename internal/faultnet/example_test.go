package faultnet_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/shoal-db/shoal/internal/faultnet"
)

// Example partitions a net of three nodes (here, echo servers): node 0 is
// cut off from nodes 1 and 2, which still reach each other.
func Example() {
	var targets []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		targets = append(targets, ln.Addr().String())
	}
	n, err := faultnet.NewNet(targets, faultnet.Options{})
	if err != nil {
		panic(err)
	}
	defer n.Close()

	// Node i is configured to reach node j at n.Addr(i, j).
	reaches := func(from, to int) bool {
		c, err := net.Dial("tcp", n.Addr(from, to))
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		c.Write([]byte("ping"))
		_, err = io.ReadFull(c, make([]byte, 4))
		return err == nil
	}
	n.Partition([]int{0})
	fmt.Println(reaches(0, 1), reaches(2, 0), reaches(1, 2))
	n.Heal()
	fmt.Println(reaches(0, 1), reaches(2, 0), reaches(1, 2))
	// Output:
	// false false true
	// true true true
}
