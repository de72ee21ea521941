package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A benchmark runs the system it measures as a process of its own, so that
// the system's CPU is measured apart from the load generator's: the test
// binary starts itself again in a role (roleEnv), and its TestMain hands
// over to the role's function instead of running the benchmarks.
const roleEnv = "TENANTFLOW_BENCH_ROLE"

// Main is a benchmark package's TestMain: started in one of roles, it runs
// that role's function and exits (1 when it fails); otherwise it runs the
// benchmarks.
func Main(m *testing.M, roles map[string]func() error) {
	if serve, ok := roles[os.Getenv(roleEnv)]; ok {
		if err := serve(); err != nil {
			fmt.Fprintf(os.Stderr, "benchmark's %s: %v\n", os.Getenv(roleEnv), err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Child is a role's process. Its standard input stays open as long as the
// benchmark wants it: the role ends when it closes.
type Child struct {
	Pid    int
	Stdin  io.WriteCloser
	Stdout *bufio.Reader // after the first line
	cmd    *exec.Cmd
}

// StartRole starts this binary again in role, with env added to this
// process's environment, and returns once the role printed its first line
// (returned without its newline): the role serves.
func StartRole(role string, env ...string) (*Child, string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	c := &Child{Pid: cmd.Process.Pid, Stdin: stdin, Stdout: bufio.NewReader(stdout), cmd: cmd}
	line, err := c.Stdout.ReadString('\n')
	if err != nil {
		c.Stop()
		return nil, "", fmt.Errorf("the benchmark's %s did not start: %w", role, err)
	}
	return c, strings.TrimSuffix(line, "\n"), nil
}

// Stop closes the role's standard input and waits for it to end.
func (c *Child) Stop() {
	_ = c.Stdin.Close()
	_ = c.cmd.Wait()
}

// UntilStdinCloses blocks a role until the benchmark that started it closes
// its standard input (or ends), handing each line to answer (nil: none).
func UntilStdinCloses(answer func(line string) error) error {
	for sc := bufio.NewScanner(os.Stdin); sc.Scan(); {
		if answer != nil {
			if err := answer(sc.Text()); err != nil {
				return err
			}
		}
	}
	return nil
}
