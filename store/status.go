package store

import "slices"

// Referral statuses (SPEC §3), modelled on the closed-loop referral state
// machine of the HL7 FHIR SDOH Clinical Care guide (Task status) and ONC 360X.
const (
	StatusNeedsInfo       = "needs-info"
	StatusAccepted        = "accepted"
	StatusRedirected      = "redirected"
	StatusWaitlisted      = "waitlisted"
	StatusScheduled       = "scheduled"
	StatusNoShow          = "no-show"
	StatusEnrolled        = "enrolled"
	StatusCompleted       = "completed"
	StatusDisengaged      = "disengaged"
	StatusClientDeclined  = "client-declined"
	StatusUnableToContact = "unable-to-contact"
	StatusWithdrawn       = "withdrawn"
	StatusEnteredInError  = "entered-in-error"
)

// transitions lists where each status may move (SPEC §3). Any status may also
// move to entered-in-error.
var transitions = map[string][]string{
	StatusNeedsInfo:  {StatusAccepted, StatusRedirected, StatusWaitlisted, StatusWithdrawn},
	StatusAccepted:   {StatusScheduled, StatusWaitlisted, StatusClientDeclined, StatusUnableToContact, StatusWithdrawn},
	StatusWaitlisted: {StatusScheduled, StatusAccepted, StatusWithdrawn},
	StatusScheduled:  {StatusEnrolled, StatusNoShow, StatusClientDeclined},
	StatusNoShow:     {StatusScheduled, StatusUnableToContact, StatusClientDeclined},
	StatusEnrolled:   {StatusCompleted, StatusDisengaged},
}

// Statuses lists every status in the order of SPEC §3.
var Statuses = []string{
	StatusNeedsInfo, StatusAccepted, StatusRedirected, StatusWaitlisted, StatusScheduled,
	StatusNoShow, StatusEnrolled, StatusCompleted, StatusDisengaged, StatusClientDeclined,
	StatusUnableToContact, StatusWithdrawn, StatusEnteredInError,
}

// OpenStatuses are the statuses of referrals still in progress; a second
// referral of the same client while one is open is a duplicate.
var OpenStatuses = []string{StatusNeedsInfo, StatusAccepted, StatusWaitlisted, StatusScheduled, StatusNoShow, StatusEnrolled}

// CaseloadStatuses count against the program's capacity.
var CaseloadStatuses = []string{StatusAccepted, StatusScheduled, StatusNoShow, StatusEnrolled}

// IsStatus reports whether s is a known status.
func IsStatus(s string) bool { return slices.Contains(Statuses, s) }

// IsFinal reports whether a referral in status s can no longer move (except
// to entered-in-error).
func IsFinal(s string) bool { _, ok := transitions[s]; return !ok }

// NeedsReason reports whether moving to s requires a reason (it ends the
// referral for a reason the partner should hear).
func NeedsReason(s string) bool {
	switch s {
	case StatusRedirected, StatusClientDeclined, StatusUnableToContact, StatusDisengaged, StatusWithdrawn:
		return true
	}
	return false
}

// CanMove reports whether from -> to is an allowed transition.
func CanMove(from, to string) bool {
	if to == StatusEnteredInError {
		return from != StatusEnteredInError
	}
	return slices.Contains(transitions[from], to)
}

// NextStatuses lists where a referral in status s may move.
func NextStatuses(s string) []string {
	out := slices.Clone(transitions[s])
	if s != StatusEnteredInError {
		out = append(out, StatusEnteredInError)
	}
	return out
}
