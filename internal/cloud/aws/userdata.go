package aws

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/nagare-video/nagare/internal/cloud"
)

// Where the boot script puts the node's settings and what it runs: the image must have nagare on PATH.
const (
	envDir      = "/etc/nagare"
	nodeCommand = "nagare node"
)

// maxUserData is EC2's limit on user data before base64.
const maxUserData = 16 << 10

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// bootScript returns the user-data shell script that writes env to dir/node.env and execs command with
// it. Errors name keys, never values: a value may be the cluster secret.
func bootScript(env map[string]string, dir, command string) (string, error) {
	var file strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		// A key is written unquoted, so only a shell name can be one.
		if !envKey.MatchString(k) {
			return "", fmt.Errorf("%w: env key %q is not a shell variable name", cloud.ErrInvalidSpec, k)
		}
		v := env[k]
		if strings.ContainsRune(v, 0) {
			return "", fmt.Errorf("%w: env %s holds a NUL byte", cloud.ErrInvalidSpec, k)
		}
		file.WriteString(k + "=" + shellQuote(v) + "\n")
	}
	body := file.String()

	// The env file goes through a quoted here-document (no expansion); its end marker must not be a
	// line of the body, or a value could end the document early and smuggle commands in.
	eof := "NAGARE_ENV_EOF"
	for slices.Contains(strings.Split(body, "\n"), eof) {
		eof += "_"
	}
	path := shellQuote(dir + "/node.env")

	var s strings.Builder
	s.WriteString("#!/bin/sh\n")
	s.WriteString("# Written by nagare's aws cloud controller: hands the node its settings and starts it.\n")
	s.WriteString("set -eu\n")
	s.WriteString("umask 077\n")
	s.WriteString("mkdir -p " + shellQuote(dir) + "\n")
	s.WriteString("cat > " + path + " <<'" + eof + "'\n")
	s.WriteString(body)
	s.WriteString(eof + "\n")
	s.WriteString("set -a\n")
	s.WriteString(". " + path + "\n")
	s.WriteString("set +a\n")
	s.WriteString("exec " + command + "\n")
	if s.Len() > maxUserData {
		return "", fmt.Errorf("%w: user data is %d bytes, EC2 takes at most %d", cloud.ErrInvalidSpec, s.Len(), maxUserData)
	}
	return s.String(), nil
}

// shellQuote single-quotes s for sh: nothing inside single quotes is special but the quote itself.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
