package tuning

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/varde/varde/guest/nginxconf"
)

// nginxIDs are the nginx checks in catalogue order; each is judged by one method of nginxRules.
var nginxIDs = []string{IDNginxWorkers, IDNginxConnections, IDNginxRlimitNofile, IDNginxSendfile,
	IDNginxTCPNodelay, IDNginxKeepalive, IDNginxGzip, IDNginxClientBuffers}

func nginxChecks(f Facts) []Result {
	var out []Result
	n := f.Nginx
	if !n.Present {
		for _, id := range nginxIDs {
			out = append(out, naResult(id, "", "nginx not configured (no nginx.conf found)", "nginx.conf present"))
		}
		return out
	}
	if n.Err != nil {
		for _, id := range nginxIDs {
			out = append(out, errResult(id, "", n.Err, "a parseable nginx.conf"))
		}
		return out
	}
	c := n.Config
	r := nginxRules{f: f, main: c.Directives, subject: c.Files[0]}
	r.http = nginxconf.Block(r.main, "http")
	r.events = nginxconf.Block(r.main, "events")
	conns, connResult := r.connections()
	return []Result{r.workers(), connResult, r.rlimitNofile(conns), r.sendfile(), r.tcpNodelay(), r.keepalive(),
		r.gzip(), r.clientBuffers()}
}

// nginxRules judges one parsed nginx configuration.
type nginxRules struct {
	f                  Facts
	main, http, events []*nginxconf.Directive
	subject            string
}

// at names where a directive was written.
func (nginxRules) at(d *nginxconf.Directive) string { return fmt.Sprintf(" (%s:%d)", d.File, d.Line) }

// fix is the line to add, in which context of which file, and how to apply it.
func (r nginxRules) fix(ctx, line string) string {
	return fmt.Sprintf("# in the %s context of %s: %s  then: nginx -t && nginx -s reload", ctx, r.subject, line)
}

// flag is an http-context directive's first value and how it reads, with nginx's default when unset.
func (r nginxRules) flag(name, def string) (string, string) {
	d := nginxconf.Last(r.http, name)
	if d == nil || len(d.Args) == 0 {
		return def, name + " " + def + " (default)"
	}
	return d.Args[0], name + " " + strings.Join(d.Args, " ") + r.at(d)
}

func (r nginxRules) workers() Result {
	exp := "auto or the number of vCPUs"
	d := nginxconf.Last(r.main, "worker_processes")
	val, where := "1 (default)", ""
	if d != nil && len(d.Args) > 0 {
		val, where = d.Args[0], r.at(d)
	}
	switch {
	case r.f.CPU.Err != nil && val != "auto":
		return errResult(IDNginxWorkers, r.subject, fmt.Errorf("worker_processes %s, vCPUs unknown: %w", val, r.f.CPU.Err), exp)
	case val == "auto":
		return result(IDNginxWorkers, r.subject, Pass, "worker_processes auto"+where, exp)
	}
	w, err := strconv.Atoi(strings.TrimSuffix(val, " (default)"))
	if err != nil {
		return result(IDNginxWorkers, r.subject, Error, fmt.Sprintf("worker_processes %q is not a number%s", val, where), exp)
	}
	obs := fmt.Sprintf("worker_processes %s%s, %d vCPUs", val, where, r.f.CPU.VCPUs)
	if w == r.f.CPU.VCPUs {
		return result(IDNginxWorkers, r.subject, Pass, obs, exp)
	}
	return result(IDNginxWorkers, r.subject, Warn, obs, exp, r.fix("main", "worker_processes auto;"))
}

// connections judges worker_connections and returns the value in force (nginx's default 512 when unset
// or unreadable), which the open-files limit is judged against.
func (r nginxRules) connections() (int, Result) {
	exp := ">= 1024"
	conns := 512
	d := nginxconf.Last(r.events, "worker_connections")
	obs := "worker_connections 512 (default)"
	if d != nil && len(d.Args) == 1 {
		v, err := strconv.Atoi(d.Args[0])
		if err != nil {
			return conns, result(IDNginxConnections, r.subject, Error, fmt.Sprintf("worker_connections %q is not a number%s", d.Args[0], r.at(d)), exp)
		}
		conns, obs = v, "worker_connections "+d.Args[0]+r.at(d)
	}
	if conns >= 1024 {
		return conns, result(IDNginxConnections, r.subject, Pass, obs, exp)
	}
	return conns, result(IDNginxConnections, r.subject, Warn, obs, exp, r.fix("events", "worker_connections 2048;"))
}

func (r nginxRules) rlimitNofile(conns int) Result {
	exp := fmt.Sprintf(">= 2 x worker_connections = %d", 2*conns)
	d := nginxconf.Last(r.main, "worker_rlimit_nofile")
	fix := r.fix("main", fmt.Sprintf("worker_rlimit_nofile %d;", 4*conns))
	if d == nil || len(d.Args) != 1 {
		return result(IDNginxRlimitNofile, r.subject, Warn, "worker_rlimit_nofile not set (the service's ulimit -n applies, often 1024)", exp, fix)
	}
	v, err := strconv.Atoi(d.Args[0])
	switch {
	case err != nil:
		return result(IDNginxRlimitNofile, r.subject, Error, fmt.Sprintf("worker_rlimit_nofile %q is not a number%s", d.Args[0], r.at(d)), exp)
	case v >= 2*conns:
		return result(IDNginxRlimitNofile, r.subject, Pass, "worker_rlimit_nofile "+d.Args[0]+r.at(d), exp)
	}
	return result(IDNginxRlimitNofile, r.subject, Warn, "worker_rlimit_nofile "+d.Args[0]+r.at(d), exp, fix)
}

func (r nginxRules) sendfile() Result {
	sv, so := r.flag("sendfile", "off")
	nv, no := r.flag("tcp_nopush", "off")
	obs, exp := so+"; "+no, "sendfile on; tcp_nopush on"
	if sv == "on" && nv == "on" {
		return result(IDNginxSendfile, r.subject, Pass, obs, exp)
	}
	return result(IDNginxSendfile, r.subject, Warn, obs, exp, r.fix("http", "sendfile on; tcp_nopush on;"))
}

func (r nginxRules) tcpNodelay() Result {
	v, obs := r.flag("tcp_nodelay", "on")
	if v == "on" {
		return result(IDNginxTCPNodelay, r.subject, Pass, obs, "tcp_nodelay on")
	}
	return result(IDNginxTCPNodelay, r.subject, Warn, obs, "tcp_nodelay on", r.fix("http", "tcp_nodelay on;"))
}

func (r nginxRules) keepalive() Result {
	exp := "keepalive_timeout between 1s and 30s"
	v, obs := r.flag("keepalive_timeout", "75s")
	secs, err := nginxSeconds(v)
	switch {
	case err != nil:
		return result(IDNginxKeepalive, r.subject, Error, obs+": "+err.Error(), exp)
	case secs >= 1 && secs <= 30:
		return result(IDNginxKeepalive, r.subject, Pass, obs, exp)
	}
	return result(IDNginxKeepalive, r.subject, Warn, obs, exp, r.fix("http", "keepalive_timeout 15;"))
}

func (r nginxRules) gzip() Result {
	v, obs := r.flag("gzip", "off")
	if v == "on" {
		return result(IDNginxGzip, r.subject, Pass, obs, "gzip on")
	}
	return result(IDNginxGzip, r.subject, Warn, obs, "gzip on",
		r.fix("http", "gzip on; gzip_comp_level 2; gzip_min_length 1000; gzip_types text/plain text/css application/json application/javascript text/xml application/xml;"))
}

// clientBuffers wants the four client buffer limits written down, so their values are a decision.
func (r nginxRules) clientBuffers() Result {
	exp := "all four client buffer limits set explicitly"
	var set, unset []string
	for _, b := range []struct{ name, def string }{{"client_body_buffer_size", "16k"}, {"client_header_buffer_size", "1k"},
		{"client_max_body_size", "1m"}, {"large_client_header_buffers", "4 8k"}} {
		d := nginxconf.Last(r.http, b.name)
		if d == nil {
			unset = append(unset, b.name+" "+b.def+" (default)")
			continue
		}
		set = append(set, b.name+" "+strings.Join(d.Args, " "))
	}
	obs := strings.Join(append(set, unset...), "; ")
	if len(unset) == 0 {
		return result(IDNginxClientBuffers, r.subject, Pass, obs, exp)
	}
	return result(IDNginxClientBuffers, r.subject, Warn, obs, exp,
		r.fix("http", "client_body_buffer_size 10K; client_header_buffer_size 1k; client_max_body_size 8m; large_client_header_buffers 2 1k;"))
}
