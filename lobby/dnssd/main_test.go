package dnssd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"

	"github.com/rallypoint/rallypoint/internal/netns"
)

func TestMain(m *testing.M) {
	if role, args, ok := netns.ChildRole(); ok {
		os.Exit(runChild(role, args))
	}
	goleak.VerifyTestMain(m)
}

// childConfig is what the parent passes to a child: JSON in the first
// argument.
type childConfig struct {
	Config  Config
	Service Service
	Type    string
	// Known lists instance names the "kaquery" child lists as known
	// answers.
	Known []string
	// Listen makes the advertiser accept TCP connections on the service's
	// port and greet each with "hello".
	Listen bool
}

// childLine is one report of a child, printed as JSON.
type childLine struct {
	What  string // "ready", "advertised", "updated", "closing", "event", "answer", "error"
	At    int64  // unix nanoseconds when it happened
	Event *Event `json:",omitempty"`
	// Instances lists the instances in a response the kaquery child saw.
	Instances []string `json:",omitempty"`
	// Instance is the name an advertised service got (after renames).
	Instance string `json:",omitempty"`
	// Took is how long Advertise took (probing), in nanoseconds.
	Took int64  `json:",omitempty"`
	Err  string `json:",omitempty"`
}

func (l childLine) at() time.Time { return time.Unix(0, l.At) }

// announced is when an "advertised" report's service was first announced:
// when Advertise returned (probing over).
func (l childLine) announced() time.Time { return l.at().Add(time.Duration(l.Took)) }

func emit(l childLine) {
	if l.At == 0 {
		l.At = time.Now().UnixNano()
	}
	b, _ := json.Marshal(l)
	fmt.Println(string(b))
}

func runChild(role string, args []string) int {
	var cc childConfig
	if len(args) > 0 {
		if err := json.Unmarshal([]byte(args[0]), &cc); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	cc.Config.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	var err error
	switch role {
	case "advertise":
		err = childAdvertise(cc)
	case "browse":
		err = childBrowse(cc)
	case "kaquery":
		err = childKnownAnswerQuery(cc)
	case "pong":
		err = childPong(cc)
	case "lifecycle":
		err = childLifecycle()
	case "sniff":
		err = childSniff(cc)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		emit(childLine{What: "error", Err: err.Error()})
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childAdvertise advertises cc.Service (when it has an instance name) and
// obeys commands on stdin: "txt k=v k=v" (update the TXT of cc.Service),
// "close" (close it), "adv NAME" and "close NAME" (advertise and close
// more instances), "ping" (send one raw multicast datagram to pingGroup,
// the baseline of the latency benchmark), "exit".
func childAdvertise(cc childConfig) error {
	n, err := New(cc.Config)
	if err != nil {
		return err
	}
	defer n.Close()
	regs := map[string]*Registration{}
	if cc.Listen {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cc.Service.Port))
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello"))
				c.Close()
			}
		}()
	}
	advertise := func(key string, s Service) error {
		start := time.Now()
		reg, err := n.Advertise(context.Background(), s)
		if err != nil {
			return err
		}
		regs[key] = reg
		// At is when Advertise was called; the first announcement went
		// out about Took later (just before Advertise returned).
		emit(childLine{What: "advertised", At: start.UnixNano(), Instance: reg.Service().Instance, Took: int64(time.Since(start))})
		return nil
	}
	if cc.Service.Instance != "" {
		if err := advertise("", cc.Service); err != nil {
			return err
		}
	}
	ping, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer ping.Close()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, rest, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "txt":
			at := time.Now()
			if err := regs[""].UpdateTXT(context.Background(), strings.Fields(rest)); err != nil {
				return err
			}
			emit(childLine{What: "updated", At: at.UnixNano()})
		case "adv":
			s := cc.Service
			s.Instance = rest
			if err := advertise(rest, s); err != nil {
				return err
			}
		case "close":
			at := time.Now()
			if err := regs[rest].Close(); err != nil {
				return err
			}
			emit(childLine{What: "closed", At: at.UnixNano()})
		case "ping":
			at := time.Now()
			if _, err := ping.WriteTo([]byte("ping"), pingGroup); err != nil {
				return err
			}
			emit(childLine{What: "pinged", At: at.UnixNano()})
		case "exit":
			return nil
		}
	}
	return nil
}

// pingGroup is where the "ping" command of the advertiser sends and the
// "pong" child listens.
var pingGroup = &net.UDPAddr{IP: net.IPv4(239, 255, 70, 1), Port: 9999}

// childPong prints "pong" with the arrival time of every datagram sent to
// pingGroup, until stdin closes.
func childPong(cc childConfig) error {
	ifaces, err := selectInterfaces(nil)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", pingGroup.Port))
	if err != nil {
		return err
	}
	if err := ipv4.NewPacketConn(c).JoinGroup(&ifaces[0], pingGroup); err != nil {
		return err
	}
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		c.Close()
	}()
	emit(childLine{What: "ready"})
	buf := make([]byte, 64)
	for {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return nil
		}
		emit(childLine{What: "pong"})
	}
}

// childBrowse prints every event until stdin closes.
func childBrowse(cc childConfig) error {
	n, err := New(cc.Config)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := n.Browse(ctx, cc.Type)
	if err != nil {
		return err
	}
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until EOF
		cancel()
	}()
	emit(childLine{What: "ready"})
	for ev := range events {
		emit(childLine{What: "event", Event: &ev})
	}
	return nil
}

// childKnownAnswerQuery is a bare querier on port 5353, like a standard
// browser: it sends a multicast PTR query for cc.Type listing cc.Known as
// known answers (full TTL) three times, 1.2 s apart (past the responders'
// one-second multicast rate limit, so that a response that a loaded
// machine delayed into the limit is asked for again), and prints the
// instances named in the answers of every response it hears until 1.6 s
// after the last query.
func childKnownAnswerQuery(cc childConfig) error {
	ifaces, err := selectInterfaces(nil)
	if err != nil {
		return err
	}
	c, _, err := listenMulticast(false, ifaces)
	if err != nil {
		return err
	}
	defer c.close()
	tl, _ := serviceTypeLabels(cc.Type)
	tn := typeName(tl)
	q := &message{Questions: []question{{Name: tn, Type: typePTR, Class: classIN}}}
	for _, k := range cc.Known {
		q.Answers = append(q.Answers, record{Name: tn, Type: typePTR, Class: classIN, TTL: 4500,
			Target: joinName(k, tl[0], tl[1], "local")})
	}
	b, err := appendMessage(nil, q)
	if err != nil {
		return err
	}
	const queries, gap = 3, 1200 * time.Millisecond
	if err := c.send(b, ifaces[0].Index, netip.AddrPort{}); err != nil {
		return err
	}
	emit(childLine{What: "ready"})
	buf := make([]byte, maxPacket)
	start := time.Now()
	sent := 1
	for {
		deadline := start.Add(time.Duration(queries-1)*gap + 1600*time.Millisecond)
		if sent < queries {
			deadline = start.Add(time.Duration(sent) * gap)
		}
		c.pc.SetReadDeadline(deadline)
		sz, _, _, err := c.read(buf)
		if err != nil {
			if sent < queries && time.Now().After(deadline) {
				if err := c.send(b, ifaces[0].Index, netip.AddrPort{}); err != nil {
					return err
				}
				sent++
				continue
			}
			emit(childLine{What: "done"})
			return nil
		}
		m, err := parseMessage(buf[:sz])
		if err != nil || !m.response() {
			continue
		}
		var names []string
		for _, r := range m.Answers {
			if r.Type == typePTR && sameName(r.Name, tn) {
				labels, _ := splitName(r.Target)
				names = append(names, labels[0])
			}
		}
		emit(childLine{What: "answer", Instances: names})
	}
}

// childSniff listens to mDNS on port 5353 beside the other stacks and
// reports every query for cc.Type with the instances it lists as known
// answers ("query"), and every response with the instances its PTR answers
// name ("response"), until stdin closes.
func childSniff(cc childConfig) error {
	ifaces, err := selectInterfaces(nil)
	if err != nil {
		return err
	}
	c, _, err := listenMulticast(false, ifaces)
	if err != nil {
		return err
	}
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		c.close()
	}()
	tl, _ := serviceTypeLabels(cc.Type)
	tn := typeName(tl)
	emit(childLine{What: "ready"})
	buf := make([]byte, maxPacket)
	for {
		sz, _, _, err := c.read(buf)
		if err != nil {
			return nil
		}
		m, err := parseMessage(buf[:sz])
		if err != nil {
			continue
		}
		asks := slices.ContainsFunc(m.Questions, func(q question) bool { return sameName(q.Name, tn) && q.Type == typePTR })
		if !m.response() && !asks {
			continue
		}
		names := []string{}
		for _, r := range m.Answers {
			if r.Type == typePTR && sameName(r.Name, tn) {
				labels, _ := splitName(r.Target)
				names = append(names, labels[0])
			}
		}
		what := "query"
		if m.response() {
			what = "response"
		}
		emit(childLine{What: what, Instances: names})
	}
}

// startChild starts role in ns with cc and returns it.
func startChild(ns *netns.NS, role string, cc childConfig) *netns.Child {
	b, _ := json.Marshal(cc)
	return ns.StartChild(role, string(b))
}

// next returns the child's next report, skipping nothing.
func next(t *testing.T, c *netns.Child, timeout time.Duration) childLine {
	t.Helper()
	l, err := c.Next(timeout)
	if err != nil {
		t.Fatalf("%s: %v", c.Role, err)
	}
	var cl childLine
	if err := json.Unmarshal([]byte(l.Text), &cl); err != nil {
		t.Fatalf("%s: bad line %q: %v", c.Role, l.Text, err)
	}
	if cl.What == "error" {
		t.Fatalf("%s failed: %s", c.Role, cl.Err)
	}
	return cl
}

// expect returns the child's next report and fails unless it is a what.
func expect(t *testing.T, c *netns.Child, what string, timeout time.Duration) childLine {
	t.Helper()
	cl := next(t, c, timeout)
	if cl.What != what {
		t.Fatalf("%s: got %+v, want %q", c.Role, cl, what)
	}
	return cl
}

// expectEvent returns the browser's next event and fails unless it is kind
// for instance.
func expectEvent(t *testing.T, c *netns.Child, kind EventKind, instance string, timeout time.Duration) childLine {
	t.Helper()
	cl := expect(t, c, "event", timeout)
	if cl.Event.Kind != kind || cl.Event.Instance != instance {
		t.Fatalf("%s: got %v %q, want %v %q", c.Role, cl.Event.Kind, cl.Event.Instance, kind, instance)
	}
	return cl
}

// expectRemoved returns the browser's Removed event for instance, skipping
// Updated events for it on the way (a standard responder may send its
// address records, or their goodbyes, apart from the service's), and
// fails on anything else.
func expectRemoved(t *testing.T, c *netns.Child, instance string, timeout time.Duration) childLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cl := expect(t, c, "event", time.Until(deadline))
		if cl.Event.Instance == instance && cl.Event.Kind == Updated {
			t.Logf("%s: updated %q (addresses %v) before its removal", c.Role, instance, cl.Event.Addrs)
			continue
		}
		if cl.Event.Kind != Removed || cl.Event.Instance != instance {
			t.Fatalf("%s: got %v %q, want removed %q", c.Role, cl.Event.Kind, cl.Event.Instance, instance)
		}
		return cl
	}
}

// noEvent fails if the browser reports anything within d.
func noEvent(t *testing.T, c *netns.Child, d time.Duration) {
	t.Helper()
	l, err := c.Next(d)
	if err == nil {
		t.Fatalf("%s: unexpected %s", c.Role, l.Text)
	}
}

func hasAddr(addrs []netip.Addr, s string) bool {
	for _, a := range addrs {
		if a.WithZone("").String() == s {
			return true
		}
	}
	return false
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// loadSlack is what a timing assertion allows on top of a protocol figure:
// CI runs every package's -race tests at once on two loaded cores, where a
// child process may wait seconds for a CPU. The figures themselves (a
// lobby shows within 1 s of its announcement and goes within 1 s of its
// goodbye) are measured by BenchmarkLANDiscovery; tests log what they see
// and fail only past the slack, which still catches a removal that waits
// for the TTL or a missed announcement.
const loadSlack = 4 * time.Second

// inTime logs that what took d and fails the test when d is past want
// plus loadSlack.
func inTime(t testing.TB, what string, d, want time.Duration) {
	t.Helper()
	t.Logf("%s after %v (figure %v)", what, d, want)
	if d > want+loadSlack {
		t.Errorf("%s after %v, want within %v (+%v for load)", what, d, want, loadSlack)
	}
}
