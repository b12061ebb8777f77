import { escapeHtml } from "../escape.js";

export function BookCard(book) {
  return `<article class="book-card">
  <h3 class="book-card__title">${escapeHtml(book.title)}</h3>
  <p class="book-card__author">${escapeHtml(book.author)}</p>
  <p class="book-card__price">${book.price.toFixed(2)} EUR</p>
</article>`;
}
