package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/policy"
)

// env is what every command runs with besides its flags: the process's
// environment and standard streams. Commands take their context from the
// command (cobra.Command.Context).
type env struct {
	getenv func(string) string
	stdio  Stdio
}

// Command groups, in the order the root's help lists them.
const (
	groupAction = "action"
	groupSetup  = "setup"
	groupAudit  = "audit"
)

// Help annotations: what a command's help lists after its flags. Help
// text is made when it is asked for, not for every run.
const (
	annotationExitCodes = "airlock.exit-codes"
	annotationInputs    = "airlock.inputs" // the action mode whose inputs it lists
	// annotationPlaceholder is a flag's value as its help names it (PATH).
	annotationPlaceholder = "airlock.placeholder"
)

const rootLong = `airlock — a fresh, signed trust decision at the QA → production boundary.

As a GitHub Actions step (` + "`gate`" + `, ` + "`check`" + `) it verifies the job's OIDC identity, the evidence
(QA credentials dead, identities not reused, approvals, the agent's change) and Rego policy,
and signs the decision. On a workstation it checks a repository before the first promotion
(` + "`doctor`" + `), tests policies, verifies, revokes and audits signed decisions, holds an environment
as a deployment protection rule app (` + "`serve`" + `), and runs a demo.`

// newRootCmd builds the command tree. ran is set once a command's own code
// starts: an error before that is the command line's (usage, exit 2).
func newRootCmd(getenv func(string) string, stdio Stdio) (*cobra.Command, *bool) {
	ran := new(bool)
	e := &env{getenv: getenv, stdio: stdio}
	root := &cobra.Command{
		Use:           "airlock",
		Short:         "a fresh, signed trust decision at the QA → production boundary",
		Long:          rootLong,
		Version:       buildID(),
		SilenceErrors: true, // Main prints every error once, as "airlock: …"
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		Example: `  airlock demo                                    # five denies, then an allow, all local
  airlock doctor --repo acme/agent --environment production --policy policy/
  airlock policy test policy/ --verbose
  airlock verify app.tgz --bundle app.tgz.sigstore.json --repo acme/agent`,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			*ran = true
			// Before the command does anything: a command that evaluates
			// Rego runs in airlock-rego (dispatch.go).
			if linked == nil && needsEngine(c) {
				return errDispatch
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(c, args[0])
			}
			c.SetOut(stdio.Err)
			_ = c.Help()
			return fault.Usagef("no command given")
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.SetFlagErrorFunc(flagError)
	root.SetUsageFunc(usage)
	root.AddGroup(
		&cobra.Group{ID: groupAction, Title: "As a GitHub Actions step:"},
		&cobra.Group{ID: groupSetup, Title: "Before and around a promotion:"},
		&cobra.Group{ID: groupAudit, Title: "Auditing signed decisions:"},
	)
	setExitCodes(root, exitCodesAll...)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupAction, newGateCmd(e), newCheckCmd(e))
	add(groupSetup, newDoctorCmd(e), newPolicyCmd(e), newTokenCmd(e), newServeCmd(e), newDemoCmd(e))
	add(groupAudit, newVerifyCmd(e), newRevokeCmd(e), newAuditCmd(e), newGrantsCmd(e))
	root.AddCommand(newVersionCmd(e))
	// The commands that evaluate Rego, which run in airlock-rego (engine.go).
	for _, c := range root.Commands() {
		switch c.Name() {
		case "gate", "check", "doctor", "policy", "serve", "demo", "grants":
			setNeedsEngine(c, "always")
		case "verify":
			setNeedsEngine(c, "policy")
		}
	}
	root.SetHelpCommand(newHelpCmd(root))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			completionHelp(c)
		}
	}
	for _, c := range root.Commands() {
		prepare(c)
	}
	return root, ran
}

// newHelpCmd is `airlock help [COMMAND]`: the command's --help, and a
// usage error (with a suggestion) for a command that does not exist.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     "help [COMMAND]",
		Short:   "help about any command (as COMMAND --help)",
		Example: "  airlock help verify\n  airlock help policy test",
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			target := root
			for _, name := range args {
				next, _, err := target.Find([]string{name})
				if err != nil || next == target {
					return unknownCommand(target, name)
				}
				target = next
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
	setExitCodes(c, "0  printed", "2  no such command")
	return c
}

// completionHelp gives cobra's completion command airlock's help and exit
// codes: an unknown shell is a usage error, not its help and exit 0.
func completionHelp(c *cobra.Command) {
	c.Example = "  source <(airlock completion bash)\n  airlock completion zsh > \"${fpath[1]}/_airlock\""
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		fmt.Fprintln(c.ErrOrStderr(), c.UsageString())
		return fault.Usagef("usage: airlock completion bash|zsh|fish|powershell")
	}
	setExitCodes(c, "0  printed the script", "2  no or an unknown shell")
	for _, sh := range c.Commands() {
		sh.Example = "  airlock completion " + sh.Name() + " --help   # where to put the script"
		setExitCodes(sh, "0  printed the script", "2  usage")
	}
}

// prepare sets what every command shares: flags listed in the order they
// are declared (grouped by meaning, not by alphabet), and parsed after
// positional arguments too (`airlock policy test DIR --verbose`).
func prepare(c *cobra.Command) {
	c.Flags().SortFlags = false
	c.Flags().SetInterspersed(true)
	for _, sub := range c.Commands() {
		prepare(sub)
	}
}

// forCompletion readies the tree for shell completion, which shows a
// flag's usage as it is: the value's name, in backquotes for the help
// (`--bundle PATH`), moves to an annotation. Done only for completion
// requests, not on every run.
func forCompletion(c *cobra.Command) {
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(f.Usage, "`") {
			return
		}
		name, text := pflag.UnquoteUsage(f)
		f.Usage = text
		_ = c.Flags().SetAnnotation(f.Name, annotationPlaceholder, []string{name})
	})
	for _, sub := range c.Commands() {
		forCompletion(sub)
	}
}

// The exit codes as every command's help states them; exitcode.go decides them.
var exitCodesAll = []string{
	"0  allow, verified, passed",
	"1  deny, verification failed, test failed",
	"2  usage, configuration or policy error (named with its flag, input or file:line)",
	"3  operational failure: network, GitHub API, issuer, signing — airlock could not decide",
}

func setExitCodes(c *cobra.Command, lines ...string) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotationExitCodes] = strings.Join(lines, "\n")
}

// groupCmd is a command that only holds subcommands (`policy`, `token`,
// `grants`): alone it is a usage error, as is an unknown subcommand, which
// gets a suggestion.
func groupCmd(use, short, usageLine string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(c, args[0])
			}
			fmt.Fprintln(c.ErrOrStderr(), c.UsageString())
			return fault.Usagef("%s", usageLine)
		},
	}
	c.AddCommand(subs...)
	setExitCodes(c, "2  no or an unknown subcommand; see each subcommand's help for its own")
	return c
}

func unknownCommand(c *cobra.Command, name string) error {
	c.SuggestionsMinimumDistance = 2
	hint := ""
	if s := c.SuggestionsFor(name); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return fault.Usagef("unknown command %q for %q%s; see %s --help", name, c.CommandPath(), hint, c.CommandPath())
}

// flagError names the command and, for a flag it does not have, the flag
// meant: a near name, or the same name with two dashes (Go's flag package,
// which airlock used before, also took -name).
func flagError(c *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return fault.Usagef("%s: %w", commandName(c), err)
	}
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, "--"+f.Name)
		}
	})
	if sh := ne.GetSpecifiedShortnames(); sh != "" {
		word, _, _ := strings.Cut(sh, "=")
		if len(word) > 1 {
			if c.Flags().Lookup(word) != nil {
				return fault.Usagef("%s: unknown flag -%s: flags take two dashes (did you mean --%s?)", commandName(c), word, word)
			}
			return fault.Usagef("%s: unknown flag -%s%s", commandName(c), word, policy.DidYouMean("--"+word, names))
		}
		return fault.Usagef("%s: unknown flag -%s", commandName(c), ne.GetSpecifiedName())
	}
	name := ne.GetSpecifiedName()
	return fault.Usagef("%s: unknown flag --%s%s", commandName(c), name, policy.DidYouMean("--"+name, names))
}

// commandName is the command as its errors name it: "policy test", as
// after "airlock: ".
func commandName(c *cobra.Command) string {
	if !c.HasParent() {
		return c.Name()
	}
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// noArgs refuses positional arguments, naming the command.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fault.Usagef("%s: unexpected argument %q", commandName(c), args[0])
	}
	return nil
}

// usage is every command's usage text: synopsis, examples, subcommands,
// flags, the action inputs a command reads, and its exit codes.
func usage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprint(w, "Usage:")
	if c.HasAvailableSubCommands() {
		// A command with subcommands runs only to say which one is missing.
		fmt.Fprintf(w, "\n  %s COMMAND [flags]", c.CommandPath())
	} else {
		fmt.Fprintf(w, "\n  %s", c.UseLine())
	}
	if c.HasExample() {
		fmt.Fprintf(w, "\n\nExamples:\n%s", strings.TrimRight(c.Example, "\n"))
	}
	if c.HasAvailableSubCommands() {
		writeSubcommands(w, c)
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\n\nFlags:\n%s", flagUsages(c.LocalFlags()))
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(w, "\n\nGlobal flags:\n%s", flagUsages(c.InheritedFlags()))
	}
	if mode := c.Annotations[annotationInputs]; mode != "" {
		fmt.Fprintf(w, "\n\n%s", inputsHelp(mode))
	}
	codes := c.Annotations[annotationExitCodes]
	if codes == "" {
		codes = "0  done\n2  usage error"
	}
	fmt.Fprintf(w, "\n\nExit codes:\n%s", strings.TrimRight(indent(codes), "\n"))
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\n\nRun \"%s COMMAND --help\" for a command's flags, examples and exit codes.", c.CommandPath())
	}
	fmt.Fprintln(w)
	return nil
}

func writeSubcommands(w io.Writer, c *cobra.Command) {
	listed := func(s *cobra.Command) bool { return s.IsAvailableCommand() || s.Name() == "help" }
	line := func(s *cobra.Command) {
		fmt.Fprintf(w, "\n  %-*s %s", s.NamePadding(), s.Name(), s.Short)
	}
	if len(c.Groups()) == 0 {
		fmt.Fprint(w, "\n\nCommands:")
		for _, s := range c.Commands() {
			if listed(s) {
				line(s)
			}
		}
		return
	}
	for _, g := range c.Groups() {
		fmt.Fprintf(w, "\n\n%s", g.Title)
		for _, s := range c.Commands() {
			if s.GroupID == g.ID && listed(s) {
				line(s)
			}
		}
	}
	fmt.Fprint(w, "\n\nOther commands:")
	for _, s := range c.Commands() {
		if s.GroupID == "" && listed(s) {
			line(s)
		}
	}
}

// aliasFlag makes --alias another spelling of --name (`--output json`, as
// users of cosign and gh type it, for --format json).
func aliasFlag(fs *pflag.FlagSet, alias, name string) {
	prev := fs.GetNormalizeFunc()
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, n string) pflag.NormalizedName {
		if n == alias {
			n = name
		}
		return prev(f, n)
	})
}

// flagUsages lists flags as `--name VALUE   what it does (default …)`,
// in declaration order. (pflag's own listing writes every boolean as
// --name[=true|false].)
func flagUsages(fs *pflag.FlagSet) string {
	var rows [][2]string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", " + name
		}
		placeholder, text := pflag.UnquoteUsage(f)
		if p := f.Annotations[annotationPlaceholder]; len(p) == 1 {
			placeholder = p[0]
		}
		if placeholder != "" {
			name += " " + placeholder
		}
		switch f.DefValue {
		case "", "false", "0", "0s", "[]":
		default:
			text += " (default " + f.DefValue + ")"
		}
		rows = append(rows, [2]string{name, text})
	})
	return twoColumns(rows)
}

// helpWidth is the width help text is wrapped to.
const helpWidth = 100

// twoColumns lays out name/text rows: names in a column of their own, text
// wrapped beside them, or below a name too long for the column.
func twoColumns(rows [][2]string) string {
	const col = 32
	var b strings.Builder
	for _, r := range rows {
		line := "  " + r[0]
		if len(line) >= col {
			b.WriteString(line + "\n")
			line = ""
		}
		first := true
		for _, l := range wrapWords(r[1], helpWidth-col) {
			if first && line != "" {
				b.WriteString(fmt.Sprintf("%-*s%s\n", col, line, l))
			} else {
				b.WriteString(strings.Repeat(" ", col) + l + "\n")
			}
			first = false
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// wrapWords breaks text into lines of at most width characters, between words.
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}
