package password

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestBcryptLimit: bcrypt's own byte limit backs the spec's character limit,
// so no password is ever truncated.
func TestBcryptLimit(t *testing.T) {
	t.Parallel()
	p := New(4, 1, 1)
	if _, err := p.Hash(t.Context(), strings.Repeat("é", 40)); err != ErrTooLong {
		t.Errorf("Hash of 80 bytes: %v, want ErrTooLong", err)
	}
	if err := p.Check(t.Context(), []byte("$2a$04$x"), strings.Repeat("p", MaxBytes+1)); err != ErrTooLong {
		t.Errorf("Check of 73 bytes: %v, want ErrTooLong", err)
	}
	if _, err := p.Hash(t.Context(), strings.Repeat("p", MaxBytes)); err != nil {
		t.Errorf("Hash of 72 bytes: %v", err)
	}
}

func TestHashCheck(t *testing.T) {
	t.Parallel()
	p := New(4, 1, 1)
	h, err := p.Hash(t.Context(), "password123")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost(h); err != nil || cost != 4 {
		t.Errorf("hash cost %d (%v), want 4", cost, err)
	}
	if err := p.Check(t.Context(), h, "password123"); err != nil {
		t.Errorf("right password: %v", err)
	}
	if err := p.Check(t.Context(), h, "password124"); err != ErrMismatch {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	if err := p.Check(t.Context(), nil, "anything"); err != ErrMismatch {
		t.Errorf("no hash (unknown user): %v, want ErrMismatch", err)
	}
	if cost, err := bcrypt.Cost(p.Dummy()); err != nil || cost != 4 {
		t.Errorf("dummy hash cost %d (%v), want the pool's 4", cost, err)
	}
}

// TestQueue: past its workers and queue, the pool refuses at once with
// ErrBusy, and QueueDepth counts who waits; a waiter whose context ends
// leaves the queue.
func TestQueue(t *testing.T) {
	t.Parallel()
	p := New(4, 1, 1)
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	p.Compare = func(hash, pw []byte) error {
		entered <- struct{}{}
		<-release
		return nil
	}
	busy := make(chan error, 1)
	go func() { busy <- p.Check(context.Background(), []byte("h"), "pw") }() // takes the worker
	<-entered
	waiter := make(chan error, 1)
	go func() { waiter <- p.Check(context.Background(), []byte("h"), "pw") }() // queues
	deadline := time.Now().Add(5 * time.Second)
	for p.QueueDepth() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second check never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.Check(context.Background(), []byte("h"), "pw"); err != ErrBusy {
		t.Errorf("third check with a full queue: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	close(release)
	if err := <-busy; err != nil {
		t.Error(err)
	}
	if err := <-waiter; err != nil {
		t.Error(err)
	}
	if p.QueueDepth() != 0 {
		t.Errorf("queue depth %d after all finished", p.QueueDepth())
	}
	// A cancelled waiter: only when it has to wait; the worker is free now.
	if err := p.Check(ctx, []byte("h"), "pw"); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("check with a cancelled context: %v", err)
	}
}
