"""Views: thin functions that check access, call selectors/services, render templates."""
