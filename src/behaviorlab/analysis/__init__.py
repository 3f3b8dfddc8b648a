"""Behavioural analyses: RFM, cohorts, funnels, clusters (frames in, frames out)."""
