"""Steps the browser tests share."""

from __future__ import annotations

from playwright.sync_api import Page


def log_in(page, live_server, user) -> None:
    """Log in through the login form, as a person would (every test user's password is
    "password")."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()


def open_menu(page: Page) -> None:
    """Show the navigation: on a phone it hides behind the Menu button, on a desktop it
    is always there."""
    button = page.locator(".topbar summary.menu-button")
    if button.is_visible() and page.locator(".topbar details.menu[open]").count() == 0:
        button.click()


def go_to(page: Page, link_name: str) -> None:
    """Follow a link of the top bar's navigation, opening the menu first where it is folded."""
    open_menu(page)
    page.locator(".topbar").get_by_role("link", name=link_name, exact=True).click()


def page_width(page: Page) -> int:
    """How wide the page is laid out: more than the viewport means sideways scrolling."""
    return int(page.evaluate("document.documentElement.scrollWidth"))


def elements_wider_than_the_screen(page: Page, width: int) -> list[str]:
    """The elements that reach past the right edge of the screen (to say what overflows)."""
    return list(
        page.evaluate(
            """(width) => {
              const found = [];
              for (const element of document.querySelectorAll("body *")) {
                const box = element.getBoundingClientRect();
                if (box.width && box.right > width + 1) {
                  let inScroller = false;
                  for (let up = element.parentElement; up; up = up.parentElement) {
                    const overflow = getComputedStyle(up).overflowX;
                    if (overflow === "auto" || overflow === "scroll" || overflow === "hidden") {
                      inScroller = up !== document.body && up !== document.documentElement;
                      if (inScroller) break;
                    }
                  }
                  if (!inScroller) {
                    const id = element.id ? "#" + element.id : "";
                    const cls = element.className && typeof element.className === "string"
                      ? "." + element.className.trim().split(/\\s+/).join(".") : "";
                    const name = element.tagName.toLowerCase() + id + cls;
                    found.push(name + " right=" + Math.round(box.right));
                  }
                }
              }
              return found.slice(0, 8);
            }""",
            width,
        )
    )
