package mail_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/mail"
)

// testEmail is a job kind for this test only; keel's own email jobs live in
// internal/jobs and call Send the same way.
type testEmail struct{ To string }

func (testEmail) Kind() string { return "test_email" }

type testEmailWorker struct {
	river.WorkerDefaults[testEmail]
	mailer mail.Sender
}

func (w *testEmailWorker) Work(ctx context.Context, job *river.Job[testEmail]) error {
	return w.mailer.Send(ctx, mail.Message{To: job.Args.To, Subject: hello.Subject, Text: hello.Text})
}

// NextRetry backs off from 50 ms, so the test takes a second, not River's
// default seconds-to-hours.
func (w *testEmailWorker) NextRetry(job *river.Job[testEmail]) time.Time {
	return time.Now().Add(50 * time.Millisecond << min(job.Attempt, 4))
}

// TestRiverRetriesUntilTheServerIsBack runs the whole path on a real River
// client over SQLite: while the SMTP server refuses, the job fails and is
// retried with backoff; after it comes back, the email arrives exactly once
// and the job is completed.
func TestRiverRetriesUntilTheServerIsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// keel's schema and River's, through the adapter; then River's driver
	// of its own on the file, since keel's engine keeps the adapter's.
	path := filepath.Join(t.TempDir(), "keel.db")
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	conn, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1) // SQLite's writers in one line, as the adapter has them

	s := newSink(t, "starttls")
	s.start()
	s.refuse.Store(true)
	reg := prometheus.NewRegistry()
	sender, err := mail.NewMetered(newSender(t, s.url(nil)), reg)
	if err != nil {
		t.Fatal(err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &testEmailWorker{mailer: sender})
	client, err := river.NewClient(riversqlite.New(conn), &river.Config{
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(context.Background())

	res, err := client.Insert(ctx, testEmail{To: hello.To}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The outage: let the job fail three times.
	for {
		if _, failed := counters(t, reg); failed >= 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the job was not retried while the server refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.messages()); n != 0 {
		t.Fatalf("%d messages arrived during the outage", n)
	}
	s.refuse.Store(false)

	var job *rivertype.JobRow
	for {
		if job, err = client.JobGet(ctx, res.Job.ID); err != nil {
			t.Fatal(err)
		}
		if job.State == rivertype.JobStateCompleted {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("job still %s after the server came back", job.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if job.Attempt < 4 || len(job.Errors) < 3 {
		t.Errorf("completed at attempt %d with %d errors; want at least 4 and 3", job.Attempt, len(job.Errors))
	}
	// Give a duplicate the time to show up, had one been scheduled.
	time.Sleep(300 * time.Millisecond)
	checkMessage(t, s.messages(), true, "")
	if sent, _ := counters(t, reg); sent != 1 {
		t.Errorf("keel_emails_sent_total = %v, want 1", sent)
	}
}
