"""LTI 1.3 tool: platform registrations, OIDC login and launch, the launched guide page, Deep Linking and grades back (AGS)."""
