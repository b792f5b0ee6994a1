package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// respConn is a minimal RESP2 client: enough for AUTH, SELECT, SCAN, DEL and
// the few commands the package's own tests use. It exists so that testenv
// does not tie the module to a particular Redis client library.
type respConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// redisError is an error reply ("-ERR ...") from the server.
type redisError string

func (e redisError) Error() string { return "redis: " + string(e) }

// dialRedis connects to a redis://[user:password@]host:port/db URL,
// authenticating and selecting the database as the URL says.
func dialRedis(rawURL string) (*respConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", hostPort(u, "6379"), dialTimeout)
	if err != nil {
		return nil, err
	}
	// One deadline for the connection's whole life: it is only ever used for
	// a short burst of commands.
	_ = conn.SetDeadline(time.Now().Add(adminTimeout))
	c := &respConn{conn: conn, r: bufio.NewReader(conn)}

	if u.User != nil {
		if pass, ok := u.User.Password(); ok {
			args := []string{"AUTH", pass}
			if user := u.User.Username(); user != "" {
				args = []string{"AUTH", user, pass}
			}
			if _, err := c.Do(args...); err != nil {
				c.Close()
				return nil, err
			}
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" && db != "0" {
		if _, err := c.Do("SELECT", db); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *respConn) Close() error { return c.conn.Close() }

// Do sends one command and returns its reply: string (simple or bulk),
// int64, nil (null bulk or array), []any, or a redisError as the error.
func (c *respConn) Do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	return c.readReply()
}

func (c *respConn) readReply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // $-1 is the null bulk string
		}
		buf := make([]byte, n+2) // payload + CRLF
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err // *-1 is the null array
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = c.readReply(); err != nil {
				// An error element (e.g. inside EXEC) is kept as a value.
				var re redisError
				if !errors.As(err, &re) {
					return nil, err
				}
				items[i] = re
			}
		}
		return items, nil
	default:
		return nil, fmt.Errorf("redis: unexpected reply %q", line)
	}
}
