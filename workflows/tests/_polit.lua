-- _polit.lua: what the polit scenarios share (a helper module, not a
-- scenario: `caseflow workflow test DIR` skips files whose name starts
-- with "_"). Every name and address is synthetic; IP addresses come from
-- the documentation ranges.
local M = {}

-- The team: one user per role, and one officer who is also an authoriser
-- (to show the four-eyes rule).
M.users = {
  analyst1 = "analyst",
  officer1 = "officer",
  officer2 = "officer",
  supervisor1 = "supervisor",
  authoriser1 = "authoriser",
  dual1 = { "officer", "authoriser" },
}

-- A referral (DESIGN.md's format): one upload from `ip`, one file of
-- `category`, seen `frequency`. The hash is made from the reference so
-- that no two referrals share one unless a scenario wants them to.
function M.referral(reference, opts)
  opts = opts or {}
  if opts.category == nil then opts.category = "C" end
  if opts.category == false then opts.category = nil end -- ungraded
  local h = 7
  for i = 1, #reference do h = (h * 31 + reference:byte(i)) % 4294967291 end
  local hash = string.format("%032x", h)
  return {
    source = "NCA-CEOP",
    reference = reference,
    received_at = "2026-11-02T09:15:00Z",
    priority = opts.priority or false,
    ip_events = { {
      ip = opts.ip or "203.0.113.45",
      port = 51812,
      type = "upload",
      at = "2026-10-30T21:14:05+01:00",
      proxy = false,
    } },
    files = { { hash_type = "md5", hash = opts.hash or hash, category = opts.category } },
    accounts = opts.accounts,
    frequency = opts.frequency or "once",
  }
end

-- Event data the steps send.
M.applied = {
  necessity = "identify the subscriber behind the upload",
  proportionality = "no less intrusive means",
}
M.granted = { authority = "OCDA", reference = "OCDA-2026-0001", urgent = false }

function M.resolved(line1)
  return {
    name = "Test Subscriber One",
    address = { line1 = line1 or "1 Example Street", town = "Exampleton", postcode = "ZZ1 1ZZ" },
    address_type = "installation",
    provider_reference = "ISP-REF-0001",
  }
end

M.billing = {
  name = "Test Subscriber One",
  address = { line1 = "PO Box 1", town = "Exampleton", postcode = "ZZ1 1ZZ" },
  address_type = "billing",
  provider_reference = "ISP-REF-0001",
}

-- Background checks: every fact false and the address corroborated (the
-- visit route's conditions), with `changes` applied on top.
function M.checks(changes)
  local c = {
    occupants = { { name = "Test Occupant One", dob = "1980-01-01" } },
    prior_history = false,
    registered_sex_offender = false,
    children_in_household = false,
    access_to_children_at_work = false,
    distribution_signs = false,
    address_corroborated = true,
  }
  for k, v in pairs(changes or {}) do c[k] = v end
  return c
end

M.visited = { advice_given = true, letter_issued = true, security_advice = true, signposted = true }
M.advised = { advice_given = true, letter_issued = false, security_advice = true, signposted = true }

-- Steps that take a referred case (`case`, default the scenario's
-- referral) to assessment, at `at` (all at once); `line1` is the resolved
-- address's first line.
function M.to_assessment(at, checks, case, line1)
  return {
    { at = at, case = case, as = "officer1", act = "authorisation.applied", data = M.applied,
      expect = { state = "authorisation" } },
    { case = case, as = "authoriser1", act = "authorisation.granted", data = M.granted,
      expect = { state = "subscriber" } },
    { case = case, as = "analyst1", act = "subscriber.resolved", data = M.resolved(line1),
      expect = { state = "checks" } },
    { case = case, as = "analyst1", act = "checks.completed", data = checks or M.checks(),
      expect = { state = "assessment" } },
  }
end

-- A new case `case` referred at `at` and taken to the supervisor's
-- approval: expect its grade, its deadline (an offset from the scenario's
-- start) and the route the approval takes.
function M.routed(at, case, referral, checks, line1, grade, deadline, route)
  return M.steps(
    { { at = at, as = "analyst1", refer = referral, case = case,
        expect = { state = "authorisation" } } },
    M.to_assessment(at, checks, case, line1),
    { { case = case, expect = { grade = grade, deadline = deadline } },
      { case = case, as = "supervisor1", act = "assessment.approved",
        expect = { state = route, route = route } } })
end

-- Join lists of steps into one.
function M.steps(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, s in ipairs(list) do out[#out + 1] = s end
  end
  return out
end

return M
