// Package cli holds Shoal's command line: the root command runs the server
// with Qdrant's flags (--config-path, --uri, --bootstrap, --snapshot,
// --force-snapshot, --disable-telemetry), and subcommands add tools.
//
// Each subcommand lives in its own file and is listed in commands.go; the
// commands share an Env (streams, environment, signals) so tests can run
// them in process.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is Shoal's release version.
const Version = "0.1.0"

// Exit codes.
const (
	ExitOK    = 0 // clean run or graceful shutdown
	ExitError = 1 // runtime failure
	ExitUsage = 2 // bad flags or configuration
)

// Env is what a command may touch of its process.
type Env struct {
	// Stdout and Stderr receive output and logs.
	Stdout, Stderr io.Writer
	// Environ is the environment (KEY=VALUE); config reads QDRANT__* and
	// SHOAL__* from it.
	Environ []string
	// Dir is the working directory for relative config/ files; "" means
	// the process's.
	Dir string
	// Signals returns a context cancelled on SIGINT/SIGTERM; nil means
	// signal.NotifyContext on the process signals.
	Signals func(ctx context.Context) (context.Context, context.CancelFunc)
	// OnReady, when set, is called with the server's REST and gRPC
	// addresses once it serves (tests use it).
	OnReady func(httpAddr, grpcAddr string)
}

// Main runs the command line of the current process and returns the exit
// code; cmd/shoal calls os.Exit with it.
func Main(args []string) int {
	return Run(context.Background(), args, Env{Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()})
}

// Run executes args with env and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Signals == nil {
		env.Signals = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		}
	}
	root := NewRootCommand(&env)
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "shoal: %v\n", err)
	var ce codedError
	if asCoded(err, &ce) {
		return ce.code
	}
	// Cobra reports a wrong command or argument count as a plain error.
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "accepts ") {
		return ExitUsage
	}
	return ExitError
}

// NewRootCommand returns the "shoal" command, which runs the server, with
// every subcommand attached.
func NewRootCommand(env *Env) *cobra.Command {
	root := newServeCommand(env)
	root.Version = versionString()
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.CompletionOptions.DisableDefaultCmd = true
	// Flag errors of every command are usage errors (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	addSubcommands(root, env)
	return root
}

// codedError carries an exit code.
type codedError struct {
	code int
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }

func usageError(err error) error { return codedError{code: ExitUsage, err: err} }

func asCoded(err error, out *codedError) bool {
	for err != nil {
		if ce, ok := err.(codedError); ok {
			*out = ce
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// commit returns the VCS revision embedded by go build, or "".
func commit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

func versionString() string {
	if c := commit(); c != "" {
		short := c
		if len(short) > 12 {
			short = short[:12]
		}
		return Version + " (" + short + ")"
	}
	return Version
}

// newLogger builds the process logger: JSON or text on w at level.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(format, "json") {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}
