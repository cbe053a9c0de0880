package checkrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/ghapi"
)

// Target is where the check is published.
type Target struct {
	Owner, Repo string
	HeadSHA     string
	// DetailsURL links the run's log (GitHub requires it for
	// action_required); ExternalID names the run and attempt.
	DetailsURL string
	ExternalID string
	StartedAt  time.Time
	Now        func() time.Time
}

// Published says where the check went.
type Published struct {
	// CheckRunID is 0 when a commit status was published instead.
	CheckRunID int64
	URL        string
	// Updated is true when an earlier attempt's check run was updated.
	Updated bool
	// StatusState is the commit status state when the check fell back to
	// one (no checks: write); "" otherwise.
	StatusState string
	// Fallback says why a commit status was published instead.
	Fallback string
}

// Publish creates or updates the one check run named Name on the head
// commit. A run an earlier attempt created is updated in place. GitHub
// appends the annotations of every update and cannot remove any, so the
// update sends only the annotations the run lacks — and when the run
// carries one that no longer holds (a finding since fixed), a new run
// replaces it rather than leave a stale finding on a run that says
// otherwise (GitHub shows, and branch protection uses, the newest run of a
// name on a commit). When the token may not touch check runs (403: no
// checks: write) the same meaning goes out as a commit status. Every
// failure to publish is an error.
func Publish(ctx context.Context, gh *ghapi.Client, t Target, b *Body) (*Published, error) {
	if t.Now == nil {
		return nil, fault.Configf("publish check: a clock is required")
	}
	runs, err := gh.CheckRunsForRef(ctx, t.Owner, t.Repo, t.HeadSHA, Name)
	if isForbidden(err) {
		return publishStatus(ctx, gh, t, b, err)
	}
	if err != nil {
		return nil, fmt.Errorf("publish check: %w", err)
	}
	var existing *ghapi.CheckRun
	for i := range runs {
		if existing == nil || runs[i].ID > existing.ID {
			existing = &runs[i]
		}
	}
	var run *ghapi.CheckRun
	updated := false
	if existing != nil {
		missing, ok, err := lacking(ctx, gh, t, existing, b.Annotations)
		if err != nil {
			return nil, fmt.Errorf("publish check: %w", err)
		}
		if ok {
			run, err = write(ctx, gh, t, b, existing.ID, missing)
			switch {
			case err == nil:
				updated = true
			case isForbidden(err) || ghapi.IsNotFound(err):
				// Another app's run of the same name, or gone: ours is new.
				run = nil
			default:
				return nil, fmt.Errorf("publish check: %w", err)
			}
		}
	}
	if run == nil {
		run, err = write(ctx, gh, t, b, 0, b.Annotations)
		if isForbidden(err) {
			return publishStatus(ctx, gh, t, b, err)
		}
		if err != nil {
			return nil, fmt.Errorf("publish check: %w", err)
		}
	}
	if run.Status != ghapi.CheckCompleted || run.Conclusion != b.Conclusion {
		return nil, fault.Operationalf("publish check: GitHub reports check run %d as %s/%s, expected completed/%s", run.ID, run.Status, run.Conclusion, b.Conclusion)
	}
	return &Published{CheckRunID: run.ID, URL: run.HTMLURL, Updated: updated}, nil
}

// lacking returns the annotations of want that run does not carry yet, and
// whether run can be updated at all: every annotation it carries must still
// be wanted.
func lacking(ctx context.Context, gh *ghapi.Client, t Target, run *ghapi.CheckRun, want []ghapi.Annotation) ([]ghapi.Annotation, bool, error) {
	if run.AnnotationsCount == 0 {
		return want, true, nil
	}
	have, err := gh.CheckRunAnnotations(ctx, t.Owner, t.Repo, run.ID)
	if isForbidden(err) || ghapi.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	left := map[ghapi.Annotation]int{}
	for _, a := range want {
		left[a]++
	}
	for _, a := range have {
		if left[a] == 0 {
			return nil, false, nil // stale, or not ours to reason about
		}
		left[a]--
	}
	var out []ghapi.Annotation
	for _, a := range want {
		if left[a] > 0 {
			left[a]--
			out = append(out, a)
		}
	}
	return out, true, nil
}

// write creates a run (id 0) or updates run id, with the annotations in
// batches; only the last request completes it.
func write(ctx context.Context, gh *ghapi.Client, t Target, b *Body, id int64, anns []ghapi.Annotation) (*ghapi.CheckRun, error) {
	batches := batch(anns)
	var run *ghapi.CheckRun
	for i, part := range batches {
		req := request(t, b, part, i+1 == len(batches))
		var err error
		switch {
		case i == 0 && id == 0:
			req.Name, req.HeadSHA = Name, t.HeadSHA
			run, err = gh.CreateCheckRun(ctx, t.Owner, t.Repo, req)
		case i == 0:
			req.Name = Name
			run, err = gh.UpdateCheckRun(ctx, t.Owner, t.Repo, id, req)
		default:
			run, err = gh.UpdateCheckRun(ctx, t.Owner, t.Repo, run.ID, req)
		}
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("annotations batch %d of %d: %w", i+1, len(batches), err)
			}
			return nil, err
		}
	}
	return run, nil
}

// batch splits annotations into GitHub's per-request maximum; there is
// always at least one (possibly empty) batch.
func batch(anns []ghapi.Annotation) [][]ghapi.Annotation {
	out := [][]ghapi.Annotation{nil}
	for i, a := range anns {
		if i > 0 && i%ghapi.MaxAnnotationsPerRequest == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], a)
	}
	return out
}

// request is one write: every one carries the output (GitHub needs title and
// summary with annotations); only the last completes the run, so that the
// run never reads as concluded with half its annotations.
func request(t Target, b *Body, anns []ghapi.Annotation, last bool) ghapi.CheckRunRequest {
	started := t.StartedAt.UTC().Truncate(time.Second)
	req := ghapi.CheckRunRequest{
		DetailsURL: t.DetailsURL, ExternalID: t.ExternalID, StartedAt: &started, Status: ghapi.CheckInProgress,
		Output: &ghapi.CheckRunOutput{Title: b.Title, Summary: b.Summary, Annotations: anns},
	}
	if last {
		done := t.Now().UTC().Truncate(time.Second)
		req.Status, req.Conclusion, req.CompletedAt = ghapi.CheckCompleted, b.Conclusion, &done
	}
	return req
}

// statusState maps a conclusion to a commit status state. A status has no
// action_required: it is pending, so that it blocks a merge as "not yet"
// rather than as "wrong", and the review that approves re-runs the check.
func statusState(conclusion string) string {
	switch conclusion {
	case ghapi.ConclusionSuccess:
		return ghapi.StatusSuccess
	case ghapi.ConclusionActionRequired:
		return ghapi.StatusPending
	default:
		return ghapi.StatusFailure
	}
}

func publishStatus(ctx context.Context, gh *ghapi.Client, t Target, b *Body, why error) (*Published, error) {
	st := ghapi.CommitStatus{State: statusState(b.Conclusion), TargetURL: t.DetailsURL, Description: b.Description, Context: StatusContext}
	if err := gh.CreateCommitStatus(ctx, t.Owner, t.Repo, t.HeadSHA, st); err != nil {
		if isForbidden(err) {
			return nil, fault.Operationalf("publish check: the github-token may write neither check runs nor commit statuses: grant the job `checks: write` (or at least `statuses: write`): %w", err)
		}
		return nil, fmt.Errorf("publish check: commit status: %w", err)
	}
	return &Published{StatusState: st.State, URL: t.DetailsURL,
		Fallback: fmt.Sprintf("check runs are not writable with this token (%v); published commit status %q instead", why, StatusContext)}, nil
}

func isForbidden(err error) bool {
	var fe *ghapi.ForbiddenError
	return errors.As(err, &fe)
}
