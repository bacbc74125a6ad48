package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newConfigCommand prints the effective configuration (secrets redacted)
// after loading every source, and fails on an invalid one: a dry run of the
// server's configuration step.
func newConfigCommand(env *Env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate and print the effective configuration (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(env, cmd.Flags(), configPath)
			if err != nil {
				return err
			}
			y, err := cfg.YAML()
			if err != nil {
				return err
			}
			for _, s := range cfg.Sources {
				fmt.Fprintf(env.Stdout, "# loaded %s\n", s)
			}
			for _, k := range cfg.Unknown {
				fmt.Fprintf(env.Stdout, "# ignored unknown key %s\n", k)
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(env.Stdout, "# warning: %s\n", w.Message)
			}
			_, err = env.Stdout.Write(y)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config-path", "", "path to a YAML config file, applied over config/config.yaml")
	return cmd
}
