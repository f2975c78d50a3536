package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/varde/varde"
	"github.com/varde/varde/storage"
	"github.com/varde/varde/token"
)

// Scheduler is what the API needs of the schedule service (schedule.Service): everything that writes
// configs, schedules, runs and snapshots goes through it, so its validation is the one rule.
type Scheduler interface {
	PutConfig(ctx context.Context, name string, body []byte, createdBy string) (storage.AuditConfig, error)
	CreateSchedule(ctx context.Context, in storage.NewSchedule) (storage.Schedule, error)
	UpdateSchedule(ctx context.Context, id int64, in storage.NewSchedule) (storage.Schedule, error)
	SetScheduleEnabled(ctx context.Context, id int64, enabled bool) (storage.Schedule, error)
	RunNow(ctx context.Context, configName, requestedBy string) (storage.AuditRun, error)
	AddSnapshot(ctx context.Context, configName string, archive io.Reader, uploadedBy string) (storage.GuestSnapshot, error)
}

// Request size limits. A config is a page of YAML; a snapshot is what `varde guest collect` writes, up
// to the limit guest puts on reading one.
const (
	MaxConfigBytes   = 1 << 20
	MaxSnapshotBytes = 256 << 20
)

type configNameInput struct {
	Name string `path:"name" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" patternDescription:"lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64" doc:"Config name."`
}

type putConfigInput struct {
	Name    string `path:"name" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" patternDescription:"lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64" doc:"Config name."`
	RawBody []byte `contentType:"application/yaml" doc:"The audit config, YAML or JSON, as for varde audit run --config."`
}

type getConfigInput struct {
	Name    string `path:"name" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" patternDescription:"lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64" doc:"Config name."`
	Version int    `query:"version" minimum:"0" doc:"Version to get; 0 or absent for the latest."`
}

type configOutput struct{ Body storage.AuditConfig }
type configsOutput struct{ Body []storage.AuditConfig }

// ScheduleBody creates or replaces a schedule.
type ScheduleBody struct {
	ConfigName string `json:"config_name" minLength:"1" maxLength:"64" doc:"The config whose latest version each run uses."`
	Spec       string `json:"spec" minLength:"1" maxLength:"256" doc:"Cron expression (five fields), optionally led by CRON_TZ=Zone, or a shorthand such as @quarterly." example:"CRON_TZ=Europe/Oslo 0 6 1 1,4,7,10 *"`
	Enabled    *bool  `json:"enabled,omitempty" doc:"Default true."`
}

func (b ScheduleBody) schedule() storage.NewSchedule {
	return storage.NewSchedule{ConfigName: b.ConfigName, Spec: b.Spec, Enabled: b.Enabled == nil || *b.Enabled}
}

type scheduleIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Schedule ID."`
}
type createScheduleInput struct{ Body ScheduleBody }
type updateScheduleInput struct {
	ID   int64 `path:"id" minimum:"1" doc:"Schedule ID."`
	Body ScheduleBody
}
type enabledInput struct {
	ID   int64 `path:"id" minimum:"1" doc:"Schedule ID."`
	Body struct {
		Enabled bool `json:"enabled"`
	}
}
type scheduleOutput struct{ Body storage.Schedule }
type schedulesOutput struct{ Body []storage.Schedule }

// StartAudit starts an audit of a config now.
type StartAudit struct {
	ConfigName string `json:"config_name" minLength:"1" maxLength:"64" doc:"The config whose latest version to run."`
}
type startAuditInput struct{ Body StartAudit }
type runOutput struct {
	Location string `header:"Location" doc:"The run, to poll until its status is final; its audit_id is then set."`
	Body     storage.AuditRun
}

type runIDInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Run ID."`
}

// RunList is a page of runs, newest first.
type RunList struct {
	Items      []storage.AuditRun `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}
type listRunsInput struct {
	ConfigName string `query:"config_name" maxLength:"64"`
	ScheduleID int64  `query:"schedule_id" minimum:"0"`
	Status     string `query:"status" enum:"queued,running,succeeded,partial,failed,interrupted"`
	Limit      int    `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Cursor     string `query:"cursor" maxLength:"64"`
}
type runListOutput struct{ Body RunList }
type getRunOutput struct{ Body storage.AuditRun }

type snapshotInput struct {
	Name string `path:"name" pattern:"^[a-z0-9][a-z0-9._-]{0,63}$" patternDescription:"lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64" doc:"Config name."`
	body io.ReadCloser
}

// Resolve takes the body as a stream: a snapshot is read once, straight into the scheduler, never held
// whole by the API.
func (in *snapshotInput) Resolve(ctx huma.Context) []error {
	in.body = io.NopCloser(ctx.BodyReader())
	return nil
}

type snapshotOutput struct{ Body storage.GuestSnapshot }
type snapshotsOutput struct{ Body []storage.GuestSnapshot }

func (s *Server) registerSchedules() {
	sc := s.cfg.Scheduler
	st := s.cfg.Store

	o := op("put-config", http.MethodPut, "/v1/configs/{name}", "Upload a new version of an audit config", "configs", token.SchedulesWrite)
	o.MaxBodyBytes = MaxConfigBytes
	o.DefaultStatus = http.StatusCreated
	o.Errors = append(o.Errors, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	o.Description += " The body is the same YAML or JSON as `varde audit run --config`; it is validated first, and a config that does not validate stores nothing. Each upload is a new version."
	huma.Register(s.api, o, func(ctx context.Context, in *putConfigInput) (*configOutput, error) {
		if len(in.RawBody) == 0 {
			return nil, huma.Error422UnprocessableEntity("empty config", &huma.ErrorDetail{Location: "body", Message: "want an audit config, YAML or JSON"})
		}
		c, err := sc.PutConfig(ctx, in.Name, in.RawBody, actor(ctx))
		if err != nil {
			return nil, s.fail(ctx, "config "+in.Name, err)
		}
		return &configOutput{Body: c}, nil
	})

	huma.Register(s.api, op("list-configs", http.MethodGet, "/v1/configs", "The latest version of each config", "configs", token.AuditsRead),
		func(ctx context.Context, _ *struct{}) (*configsOutput, error) {
			cs, err := st.ListConfigs(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list configs", err)
			}
			return &configsOutput{Body: nonNil(cs)}, nil
		})

	o = op("get-config", http.MethodGet, "/v1/configs/{name}", "Get a config version", "configs", token.AuditsRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *getConfigInput) (*configOutput, error) {
		c, err := st.GetConfig(ctx, in.Name, in.Version)
		if err != nil {
			return nil, s.fail(ctx, "get config", err)
		}
		return &configOutput{Body: c}, nil
	})

	o = op("upload-snapshot", http.MethodPost, "/v1/configs/{name}/snapshots", "Upload a guest snapshot for the next audit of a config", "configs", token.AuditsRun)
	o.DefaultStatus = http.StatusCreated
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
	o.Description += " The body is an archive from `varde guest collect`, at most 256 MiB."
	o.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		"application/gzip": {Schema: &huma.Schema{Type: "string", Format: "binary"}}}}
	huma.Register(s.api, o, func(ctx context.Context, in *snapshotInput) (*snapshotOutput, error) {
		lr := &limitReader{r: in.body, left: MaxSnapshotBytes}
		g, err := sc.AddSnapshot(ctx, in.Name, lr, actor(ctx))
		if lr.over {
			return nil, huma.Error413RequestEntityTooLarge(fmt.Sprintf("snapshot: more than the %s limit", varde.FormatSize(MaxSnapshotBytes)))
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, huma.Error413RequestEntityTooLarge("snapshot: too large")
		}
		if err != nil {
			return nil, s.fail(ctx, "snapshot for "+in.Name, err)
		}
		return &snapshotOutput{Body: g}, nil
	})

	huma.Register(s.api, op("list-snapshots", http.MethodGet, "/v1/configs/{name}/snapshots", "Guest snapshots uploaded for a config", "configs", token.AuditsRead),
		func(ctx context.Context, in *configNameInput) (*snapshotsOutput, error) {
			gs, err := st.ListSnapshots(ctx, in.Name)
			if err != nil {
				return nil, s.fail(ctx, "list snapshots", err)
			}
			return &snapshotsOutput{Body: nonNil(gs)}, nil
		})

	o = op("create-schedule", http.MethodPost, "/v1/schedules", "Create a schedule", "schedules", token.SchedulesWrite)
	o.DefaultStatus = http.StatusCreated
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity)
	huma.Register(s.api, o, func(ctx context.Context, in *createScheduleInput) (*scheduleOutput, error) {
		out, err := sc.CreateSchedule(ctx, in.Body.schedule())
		if err != nil {
			return nil, s.fail(ctx, "create schedule", err)
		}
		return &scheduleOutput{Body: out}, nil
	})

	o = op("update-schedule", http.MethodPut, "/v1/schedules/{id}", "Replace a schedule's config, spec and state", "schedules", token.SchedulesWrite)
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusUnprocessableEntity)
	huma.Register(s.api, o, func(ctx context.Context, in *updateScheduleInput) (*scheduleOutput, error) {
		out, err := sc.UpdateSchedule(ctx, in.ID, in.Body.schedule())
		if err != nil {
			return nil, s.fail(ctx, "update schedule", err)
		}
		return &scheduleOutput{Body: out}, nil
	})

	o = op("set-schedule-enabled", http.MethodPut, "/v1/schedules/{id}/enabled", "Enable or disable a schedule", "schedules", token.SchedulesWrite)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *enabledInput) (*scheduleOutput, error) {
		out, err := sc.SetScheduleEnabled(ctx, in.ID, in.Body.Enabled)
		if err != nil {
			return nil, s.fail(ctx, "enable schedule", err)
		}
		return &scheduleOutput{Body: out}, nil
	})

	huma.Register(s.api, op("list-schedules", http.MethodGet, "/v1/schedules", "List schedules", "schedules", token.AuditsRead),
		func(ctx context.Context, _ *struct{}) (*schedulesOutput, error) {
			ss, err := st.ListSchedules(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list schedules", err)
			}
			return &schedulesOutput{Body: nonNil(ss)}, nil
		})

	o = op("get-schedule", http.MethodGet, "/v1/schedules/{id}", "Get a schedule", "schedules", token.AuditsRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *scheduleIDInput) (*scheduleOutput, error) {
		out, err := st.GetSchedule(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "get schedule", err)
		}
		return &scheduleOutput{Body: out}, nil
	})

	o = op("start-audit", http.MethodPost, "/v1/audits", "Start an audit of a config now", "audits", token.AuditsRun)
	o.DefaultStatus = http.StatusAccepted
	o.Errors = append(o.Errors, http.StatusNotFound, http.StatusUnprocessableEntity)
	o.Description += " The audit runs as a job; poll the run in Location until its status is final."
	huma.Register(s.api, o, func(ctx context.Context, in *startAuditInput) (*runOutput, error) {
		r, err := sc.RunNow(ctx, in.Body.ConfigName, actor(ctx))
		if err != nil {
			return nil, s.fail(ctx, "start audit", err)
		}
		return &runOutput{Location: fmt.Sprintf("/v1/runs/%d", r.ID), Body: r}, nil
	})

	huma.Register(s.api, op("list-runs", http.MethodGet, "/v1/runs", "List audit runs, newest first", "runs", token.AuditsRead),
		func(ctx context.Context, in *listRunsInput) (*runListOutput, error) {
			var before int64
			if in.Cursor != "" {
				id, err := decodeCursor(in.Cursor)
				if err != nil {
					return nil, huma.Error422UnprocessableEntity("bad cursor",
						&huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
				}
				before = id
			}
			runs, next, err := st.ListRuns(ctx, storage.RunFilter{ConfigName: in.ConfigName, ScheduleID: in.ScheduleID,
				Status: storage.RunStatus(in.Status), Limit: in.Limit}, before)
			if err != nil {
				return nil, s.fail(ctx, "list runs", err)
			}
			out := &runListOutput{Body: RunList{Items: nonNil(runs)}}
			if next > 0 {
				out.Body.NextCursor = encodeCursor(next)
			}
			return out, nil
		})

	o = op("get-run", http.MethodGet, "/v1/runs/{id}", "Get an audit run", "runs", token.AuditsRead)
	o.Errors = append(o.Errors, http.StatusNotFound)
	huma.Register(s.api, o, func(ctx context.Context, in *runIDInput) (*getRunOutput, error) {
		r, err := st.GetRun(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "get run", err)
		}
		return &getRunOutput{Body: r}, nil
	})
}

// nonNil keeps an empty list [] in JSON rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// limitReader reads at most left bytes and notes a body that has more.
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.over = true
			return 0, errors.New("snapshot: over the size limit")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
