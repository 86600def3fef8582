-- Test workflow for tests/unit/test_ops_batch.c, on the test-only "good"
-- plugin (tests/plugins/good.c): a referral runs from "start" to "waiting"
-- through a transition function, which fails (a workflow script error,
-- CF_ESCRIPT: not the referral's fault) for a reference that starts with
-- "BOOM", so a batch can meet a failure that is not a refusal mid-way.
return workflow {
  name = "batch", version = 1, initial = "start",
  states = {
    start = {
      step = "good", config = { emit = "next" },
      on = {
        next = {
          to = function(case)
            if string.sub(case.data.referral.reference, 1, 4) == "BOOM" then
              error("boom")
            end
            return "waiting"
          end,
          targets = { "waiting" },
        },
      },
    },
    waiting = {
      step = "good", roles = { "officer" },
      on = { submit = "done" },
    },
    done = { final = true },
  },
}
