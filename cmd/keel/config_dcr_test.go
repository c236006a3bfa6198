package main

import (
	"strings"
	"testing"
	"time"
)

// TestLoadConfigDynamicRegistration: RFC 7591 registration is off by
// default with a 30-day idle bound; it turns on, takes an initial access
// token of 32 bytes or more and a whole number of days; a bad value is
// refused naming the setting, and a short token is never printed.
func TestLoadConfigDynamicRegistration(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(nil))
	if err != nil || cfg.DynamicRegistration || cfg.DCRInitialAccessToken != "" || cfg.DCRIdle != 30*24*time.Hour ||
		cfg.server().DynamicRegistration {
		t.Errorf("defaults: on %v, token %q, idle %v, %v", cfg.DynamicRegistration, cfg.DCRInitialAccessToken, cfg.DCRIdle, err)
	}
	token := strings.Repeat("t", 32)
	cfg, err = loadConfig(env(map[string]string{"OP_DYNAMIC_REGISTRATION": "true", "OP_DCR_INITIAL_ACCESS_TOKEN": token, "OP_DCR_IDLE_DAYS": "2"}))
	if err != nil || !cfg.server().DynamicRegistration || cfg.server().DCRInitialAccessToken != token || cfg.DCRIdle != 48*time.Hour {
		t.Errorf("set: on %v, token %q, idle %v, %v", cfg.DynamicRegistration, cfg.DCRInitialAccessToken, cfg.DCRIdle, err)
	}
	for _, tt := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"OP_DYNAMIC_REGISTRATION": "maybe"}, "OP_DYNAMIC_REGISTRATION"},
		{map[string]string{"OP_DCR_IDLE_DAYS": "0"}, "OP_DCR_IDLE_DAYS"},
		{map[string]string{"OP_DCR_IDLE_DAYS": "1.5"}, "OP_DCR_IDLE_DAYS"},
		{map[string]string{"OP_DCR_INITIAL_ACCESS_TOKEN": "short-secret-hunter2"}, "OP_DCR_INITIAL_ACCESS_TOKEN"},
	} {
		_, err := loadConfig(env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%v: %v, want an error naming %s", tt.env, err, tt.name)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the token is printed: %v", tt.env, err)
		}
	}
}
