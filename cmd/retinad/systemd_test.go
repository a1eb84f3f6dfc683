package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// unitFile is what TestSystemdUnits reads of a systemd unit: its [Service] settings and the
// install commands in its opening comment.
type unitFile struct {
	service map[string][]string
	install []string
}

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{service: map[string][]string{}}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#   sudo "):
			u.install = append(u.install, strings.TrimPrefix(line, "#   "))
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]" && strings.Contains(line, "=") && !strings.HasPrefix(line, "#"):
			k, v, _ := strings.Cut(line, "=")
			u.service[k] = append(u.service[k], v)
		}
	}
	return u
}

// TestSystemdUnits checks the units beyond `systemd-analyze verify`: the user, group and
// supplementary groups each runs as are the ones its install commands create (useradd
// --system makes the user's own group), README gives the same commands, and every retinad
// command line in it parses with this retinad's flags (check-config finds nothing wrong in the example rig
// config that its install command copies but the serial device this machine lacks).
func TestSystemdUnits(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"retinad.service", "retinad-worker.service"} {
		u := readUnit(t, "../../configs/systemd/"+name)
		user, group := u.service["User"], u.service["Group"]
		if len(user) != 1 || len(group) != 1 || user[0] != group[0] {
			t.Errorf("%s: User %q, Group %q: want one user, and its own group (useradd --system makes it)", name, user, group)
			continue
		}
		i := slices.IndexFunc(u.install, func(c string) bool {
			return strings.HasPrefix(c, "sudo useradd --system ") && strings.HasSuffix(c, " "+user[0])
		})
		if i < 0 {
			t.Errorf("%s: runs as %s, which no useradd of its install commands creates: %q", name, user[0], u.install)
			continue
		}
		var groups []string
		if f := strings.Fields(u.install[i]); slices.Contains(f, "--groups") {
			groups = strings.Split(f[slices.Index(f, "--groups")+1], ",")
		}
		for _, sg := range u.service["SupplementaryGroups"] {
			for _, g := range strings.Fields(sg) {
				if !slices.Contains(groups, g) {
					t.Errorf("%s: supplementary group %s not given to %s by %q", name, g, user[0], u.install[i])
				}
			}
		}
		for _, c := range u.install {
			if !strings.Contains(string(readme), c) {
				t.Errorf("%s: README does not give its install command %q", name, c)
			}
		}
		for _, key := range []string{"ExecStartPre", "ExecStart"} {
			for _, cmd := range u.service[key] {
				checkUnitCommand(t, name, cmd)
			}
		}
	}
}

// checkUnitCommand runs a unit's retinad command line: check-config on the example rig config
// (the unit's /etc/retinad/rig.yaml), any other command with --help after its flags, which
// stops it once every flag before has parsed.
func checkUnitCommand(t *testing.T, unit, cmd string) {
	t.Helper()
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "/usr/local/bin/retinad" {
		t.Errorf("%s: %q is not a retinad command line", unit, cmd)
		return
	}
	args := f[1:]
	if slices.Contains(args, "check-config") {
		for i, a := range args {
			if a == "/etc/retinad/rig.yaml" {
				args[i] = "../../configs/rig.yaml"
			}
		}
	} else {
		args = append(args, "--help")
	}
	code, _, stderr := run(t, args...)
	// The rig template names a serial device this machine does not have (TestCheckConfigExamples).
	onlyDevice := strings.Contains(stderr, "1 problem(s)") && strings.Contains(stderr, "photodiode.device:")
	if code != 0 && !(code == 1 && slices.Contains(args, "check-config") && onlyDevice) {
		t.Errorf("%s: %q: exit %d: %s", unit, cmd, code, stderr)
	}
}
