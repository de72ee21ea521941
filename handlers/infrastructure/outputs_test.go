package infrastructure

import "testing"

// Outputs a module marks sensitive never reach the step's outcome (and so
// no event); the others are kept as text.
func TestSensitiveOutputsStayInTheState(t *testing.T) {
	raw := []byte(`{"load_balancer":{"sensitive":false,"type":"string","value":"lb.tenants.test"},
		"db_password":{"sensitive":true,"type":"string","value":"hunter2"},
		"ports":{"sensitive":false,"type":["list","number"],"value":[80,443]}}`)
	got, err := publicOutputs(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["load_balancer"] != "lb.tenants.test" || got["ports"] != "[80,443]" {
		t.Fatalf("outputs %v", got)
	}
	if _, leaked := got["db_password"]; leaked {
		t.Fatal("a sensitive output reached the outcome")
	}
}
