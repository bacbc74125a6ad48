package cli

import "github.com/spf13/cobra"

// addSubcommands attaches every subcommand to root. A tool adds its
// command in its own file (for example snapshot.go with
// newSnapshotCommand(env)) and one line here.
func addSubcommands(root *cobra.Command, env *Env) {
	root.AddCommand(
		newVersionCommand(env),
		newConfigCommand(env),
		newSnapshotCommand(env),
		newPeerCommand(env),
	)
}
