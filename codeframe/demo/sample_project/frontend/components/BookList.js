import { escapeHtml } from "../escape.js";

export function BookList(books) {
  const items = books.map(
    (book) =>
      `<li class="book-list__item">${escapeHtml(book.title)} — ${escapeHtml(book.author)}</li>`,
  );
  return `<ul class="book-list">${items.join("")}</ul>`;
}
